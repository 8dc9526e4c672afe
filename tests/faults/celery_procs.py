"""Real Faultline processes for the broker and worker fault tests: gunicorn, a Celery
worker, each in a session of its own so a test can kill it (-9) like an outage does.

They run on production settings against the private PostgreSQL (tests/faults/services.py)
and a private Redis as the Celery broker; the cache stays on the suite's REDIS_URL, so what
is taken away is the broker alone."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest

from tests.faults.services import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"

KEY_SNIPPET = """
import sys, django
django.setup()
from resilience.models import Service
from resilience.ingest.keys import service_key_create
service = Service.objects.create(name=sys.argv[1], slug=sys.argv[1])
print(service.pk, service_key_create(service=service, label="faults")[1])
"""


def production_env(*, database_url: str, broker_url: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        # The shared cache (coalescing key) stays on the suite's Redis, which is never
        # stopped; prefixes of its own so no other test's keys are touched.
        REDIS_URL=os.environ.get("REDIS_URL", ""),
        CACHE_KEY_PREFIX=f"faults-{uuid.uuid4().hex[:8]}",
        FAULTLINE_CIRCUIT_KEY_PREFIX=f"faults-{uuid.uuid4().hex[:8]}",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="faults-only-secret-key-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        FAULTLINE_VAR_DIR=str(var_dir),
        FAULTLINE_ALERT_ENABLED="false",
        LOG_LEVEL="INFO",
    )
    return env


def service_with_key(env: dict[str, str]) -> tuple[int, str]:
    """A fresh service (own slug, so tests sharing the database never count each other's
    rows) and its raw key."""
    slug = f"faults-{uuid.uuid4().hex[:10]}"
    done = subprocess.run([str(BIN / "python"), "-c", KEY_SNIPPET, slug], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pk, key = done.stdout.strip().splitlines()[-1].split()
    return int(pk), key


class Proc:
    def __init__(self, name: str, command: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self.log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """kill -9 the process and its children (a prefork worker's pool)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass
        self.log.close()

    def tail(self) -> str:
        return f"--- {self.name}\n{self.log_path.read_text()[-4000:]}"


def gunicorn(env: dict[str, str], logs: Path) -> tuple[Proc, int]:
    port = free_port()
    proc = Proc("gunicorn", [str(BIN / "gunicorn"), "config.wsgi:application", "--bind",
                             f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers",
                             "1", "--threads", "16", "--log-level", "warning"], env, logs)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.alive(), proc.tail()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"gunicorn did not start\n{proc.tail()}")


def worker(env: dict[str, str], logs: Path, name: str = "worker") -> Proc:
    """A prefork worker on every queue, as scripts/run.sh starts it."""
    return Proc(name, [sys.executable, "-m", "celery", "-A", "config", "worker",
                       "--loglevel", "INFO", "--concurrency", "1", "-Q",
                       "digest,alerts,replay,maintenance", "--without-gossip",
                       "--without-mingle"], env, logs)


def post_report(port: int, key: str, *, code: str = "ECONNRESET",
                timeout: float = 30) -> int:
    body = json.dumps({"code": code, "message": "fault test", "operation": "faults.call",
                       "event_id": uuid.uuid4().hex}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/errors/", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def db(database_url: str):
    url = urlsplit(database_url)
    conn = psycopg2.connect(host=url.hostname, port=url.port, user=url.username or "postgres",
                            dbname=url.path.lstrip("/"))
    conn.autocommit = True
    return conn


def count_entries(database_url: str, service_id: int, *, undigested: bool = False) -> int:
    conn = db(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM resilience_errorlogentry WHERE service_id = %s"
                        + (" AND digested_at IS NULL" if undigested else ""), [service_id])
            return cur.fetchone()[0]
    finally:
        conn.close()


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str,
             procs: list[Proc]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    tails = "\n".join(p.tail() for p in procs)
    pytest.fail(f"not within {timeout} s: {what}\n{tails}")


def worker_ready(proc: Proc) -> Callable[[], bool]:
    return lambda: " ready." in proc.log_path.read_text()


class Stack:
    """gunicorn + one worker against `database_url`, the broker at `broker_url`."""

    def __init__(self, *, database_url: str, broker_url: str, logs: Path) -> None:
        self.logs = logs
        self.env = production_env(database_url=database_url, broker_url=broker_url,
                                  var_dir=logs)
        self.database_url = database_url
        self.service_id, self.key = service_with_key(self.env)
        self.web, self.port = gunicorn(self.env, logs)
        self.procs = [self.web]
        self.worker = self.start_worker()

    def start_worker(self, name: str = "worker") -> Proc:
        proc = worker(self.env, self.logs, name)
        self.procs.append(proc)
        wait_for(worker_ready(proc), timeout=30, what=f"{name} to start", procs=self.procs)
        self.worker = proc
        return proc

    def post(self, count: int = 1) -> None:
        for _ in range(count):
            assert post_report(self.port, self.key) == 201

    def undigested(self) -> int:
        return count_entries(self.database_url, self.service_id, undigested=True)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
