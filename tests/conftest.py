"""Shared fixtures. Tests that need a real service use the `postgres` or `redis_url`
fixtures: they skip when the service is not configured, and fail under REQUIRE_SERVICES=1."""

import os

import pytest
from django.conf import settings
from django.db import connection

from tests import factories
from tests.write_paths import GROUP_COMMIT, WRITE_PATHS

# Headless Chromium (`chromium`, `live_browser_server`) for every browser test.
pytest_plugins = ["tests.browser.chromium"]


def pytest_collection_modifyitems(items) -> None:
    """Every transactional test restores what the migrations wrote (roles, content types,
    default alert rules, beat schedules) as it starts: a flush after a transactional test
    re-creates content types with new ids, and a later test that restores the snapshot
    would then collide with them. Mixing both kinds broke whichever ran second."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        transactional = bool(marker and (marker.kwargs.get("transaction")
                                         or (marker.args and marker.args[0])))
        transactional |= any(name in item.fixturenames
                             for name in ("transactional_db", "live_server"))
        if transactional and "django_db_serialized_rollback" not in item.fixturenames:
            item.fixturenames.append("django_db_serialized_rollback")


@pytest.fixture(scope="session", autouse=True)
def test_database_released(django_db_setup, django_db_blocker):
    """Runs its teardown just before pytest-django drops the test database: no session may
    still use it then. Threads that opened their own connection (group committers, live
    servers, the tests' worker threads) can only be closed from inside, so what is left is
    ended on the server; every session on the test database is this run's."""
    yield
    from django.db import connections
    from django.db.backends.base.creation import TEST_DATABASE_PREFIX

    connections.close_all()
    with django_db_blocker.unblock():
        for alias in connections:
            conn = connections[alias]
            # Only a database this run created (a run with no database test creates none).
            name, test_name = conn.settings_dict["NAME"], conn.settings_dict["TEST"]["NAME"]
            created = name == test_name if test_name else name.startswith(TEST_DATABASE_PREFIX)
            if conn.vendor != "postgresql" or not created:
                continue
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()")
            conn.close()


def _missing(service: str) -> None:
    message = f"{service} is required for this test but is not configured or not reachable"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres(db):
    """Use in tests whose promise only holds on PostgreSQL (row locks, SKIP LOCKED)."""
    if connection.vendor != "postgresql":
        _missing("PostgreSQL (set DATABASE_URL=postgres://…)")


@pytest.fixture
def postgresql_only():
    """For tests whose setup only PostgreSQL gives (a server to cut off, writers in other
    threads at once, a migration run inside a transaction), without asking for a database
    the way `postgres` does."""
    if connection.vendor != "postgresql":
        _missing("PostgreSQL (set DATABASE_URL=postgres://…)")


@pytest.fixture
def redis_url():
    url = settings.REDIS_URL
    if not url:
        _missing("Redis (set REDIS_URL=redis://…)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        _missing(f"Redis at {url}")
    return url


@pytest.fixture(autouse=True)
def circuit_prefix(settings):
    """Circuits are shared through Redis: each test gets its own key prefix (removed
    afterwards) and a process with no cached circuit settings or Redis outage."""
    import uuid

    from resilience.circuits.services import circuit_process_reset

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_KEY_PREFIX": prefix}
    url = settings.REDIS_URL
    circuit_process_reset()
    yield prefix
    circuit_process_reset()
    if url:
        import contextlib

        import redis

        from resilience.circuits.redis_breaker import RedisCircuitStore

        with contextlib.suppress(redis.RedisError):
            RedisCircuitStore(url, prefix).delete_all()


def forget_rate_limit_windows() -> None:
    """Key ids repeat across test runs and budget windows live a minute in the cache, so
    every test starts with none (only the rate-limit keys: the Redis database may hold
    other tests' state)."""
    from django.core.cache import cache

    from resilience.ingest.rate_limits import budgets_process_reset

    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("ratelimit:*")
    else:
        cache.clear()  # the per-process local-memory cache
    budgets_process_reset()


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    forget_rate_limit_windows()
    yield
    forget_rate_limit_windows()


class FixedClock:
    """A clock that reads `now` until a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def catch_task(monkeypatch):
    """catch_task(name, handler): messages for our Celery task `name` go to
    handler(kwargs, **options) instead of the broker. Services queue tasks by name
    (resilience.outbound.calls.send_task), so this is where a test catches them."""
    from types import SimpleNamespace

    from config.celery_app import app

    handlers = {}
    publish = app.send_task

    def send_task(name, args=None, kwargs=None, **options):
        if name not in handlers:
            return publish(name, args, kwargs, **options)
        handlers[name](kwargs or {}, **options)
        return SimpleNamespace(id=f"caught:{name}")

    monkeypatch.setattr(app, "send_task", send_task)
    return handlers.__setitem__


@pytest.fixture
def budget_clock(monkeypatch) -> FixedClock:
    """Budgets count per calendar minute: the views' budget clock held at the start of one,
    so every request of a test counts in one window (move it with `budget_clock.now`)."""
    from resilience.ingest import rate_limits

    clock = FixedClock(1_750_000_020.0)  # 1_750_000_020 % 60 == 0
    monkeypatch.setattr(rate_limits, "clock", clock)
    return clock


@pytest.fixture(autouse=True)
def group_committer_stopped():
    """A test that wrote through the process's group committer stops it as it ends: the
    queue is committed and the thread's connection closed, the next test starts afresh."""
    yield
    from resilience.ingest import entry_writer

    assert entry_writer.committer_stop(), "the group committer's thread did not end"


@pytest.fixture
def group_committer():
    """A group committer of the test's own, stopped as the test ends."""
    from resilience.ingest.entry_writer import GroupCommitter

    committer = GroupCommitter(max_rows=500)
    yield committer
    assert committer.stop(), "the group committer's thread did not end"


@pytest.fixture(params=WRITE_PATHS)
def write_path(request, settings) -> str:
    """Runs a test on each way ingest stores (tests/write_paths.py): in the test's
    transaction, committed for real, and committed through the group committer."""
    if request.param == GROUP_COMMIT:
        settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_GROUP_COMMIT": True}
    return request.param


@pytest.fixture
def service(db):
    return factories.ServiceFactory()


@pytest.fixture
def api_key(service):
    """A (ServiceKey, raw key) pair for `service`."""
    return factories.service_key(service)


@pytest.fixture
def service_client(api_key):
    """A Django test client that reports as `service` with its Bearer key."""
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")


@pytest.fixture
def triager(db):
    return factories.operator("triager", role="Triager")


@pytest.fixture
def viewer(db):
    return factories.operator("viewer", role="Viewer")
