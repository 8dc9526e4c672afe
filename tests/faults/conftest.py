"""Session-wide private servers for the fault tests (tests/faults/services.py)."""

import contextlib
import subprocess
from pathlib import Path

import pytest

from tests.faults.services import PrivatePostgres, PrivateRedis, migrate

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def private_postgres():
    """A running private cluster with the project's schema in database `faultline`."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        cluster.database_url = cluster.createdb("faultline")
        migrate(cluster.database_url, base_dir=BASE_DIR)
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def postgres_up(private_postgres):
    """The private cluster, started again after a test that stopped it."""
    yield private_postgres
    with contextlib.suppress(subprocess.CalledProcessError):  # it was never stopped
        private_postgres.start()


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def stack(private_postgres, private_redis, tmp_path, redis_url):
    """gunicorn + one worker on the private servers; the broker is `private_redis`, the
    cache the suite's Redis (`redis_url`: the processes share their digest coalescing)."""
    from tests.faults import celery_procs as procs

    running = procs.Stack(database_url=private_postgres.database_url,
                          broker_url=private_redis.url(0), logs=tmp_path)
    try:
        yield running
    finally:
        running.stop()
