"""PostgreSQL really stopped under a running gunicorn: reports keep being accepted (201 with
"spooled", Sentry 200), /readyz says degraded, and once the database is back every accepted
event id is stored exactly once — also when the process that spooled them was killed and a
new one drains what it left.

Production settings, the private cluster of tests/faults/services.py; the machine's own
PostgreSQL and Redis are never touched (the cache is the suite's REDIS_URL, own prefix)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest

from tests.faults.services import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
METRICS_TOKEN = "faults-metrics-token"
# The bound for a drain after the database returns is "seconds"; generous here.
DRAIN_TIMEOUT = 30

KEY_SNIPPET = """
import sys, django
django.setup()
from resilience.models import Service
from resilience.ingest.keys import service_key_create
service = Service.objects.create(name=sys.argv[1], slug=sys.argv[1])
key, raw = service_key_create(service=service, label="faults")
print(service.pk, raw, key.public_key)
"""


@pytest.fixture
def env(private_postgres, tmp_path):
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="faults-only-secret-key-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1",
        # SECURE_SSL_REDIRECT stays on: ingest over plain HTTP must not be redirected.
        DATABASE_URL=private_postgres.database_url,
        REDIS_URL=os.environ.get("REDIS_URL", ""),
        CACHE_KEY_PREFIX=f"faults-{uuid.uuid4().hex[:8]}",
        FAULTLINE_CIRCUIT_KEY_PREFIX=f"faults-{uuid.uuid4().hex[:8]}",
        CELERY_BROKER_URL="filesystem://",
        FAULTLINE_VAR_DIR=str(tmp_path / "var"),
        FAULTLINE_SPOOL_DIR=str(tmp_path / "spool"),
        FAULTLINE_ALERT_ENABLED="false",
        METRICS_TOKEN=METRICS_TOKEN,
    )
    return environment


class Web:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.port = free_port()
        self.log_path = logs / f"gunicorn-{self.port}.log"
        self.log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "config.wsgi:application", "--bind",
             f"127.0.0.1:{self.port}", "--worker-class", "gthread", "--workers", "1",
             "--threads", "8", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.tail()
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"gunicorn did not start\n{self.tail()}")

    def tail(self) -> str:
        return self.log_path.read_text()[-4000:]

    def request(self, path: str, body: bytes | None = None, **headers: str):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body,
                                         headers=headers, method="POST" if body else "GET")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                if response.headers.get_content_type() != "application/json":
                    return response.status, text.decode(errors="replace")
                return response.status, json.loads(text or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def get(self, path: str, **headers: str):
        return self.request(path, **headers)

    def report(self, key: str, event_id: str):
        body = json.dumps({"code": "ECONNREFUSED", "message": "outage", "event_id": event_id,
                           "operation": "faults.db"}).encode()
        return self.request("/api/v1/errors/", body, **{
            "Content-Type": "application/json", "Authorization": f"Bearer {key}"})

    def sentry(self, service_id: int, public_key: str, event_id: str):
        body = json.dumps({"event_id": event_id, "level": "error", "message": "outage"})
        return self.request(f"/api/{service_id}/store/", body.encode(), **{
            "Content-Type": "application/json",
            "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={public_key}"})

    def kill(self) -> None:
        """kill -9, the arbiter and its worker: whatever the process held is gone."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.log.close()


def _service(env: dict[str, str]) -> tuple[int, str, str]:
    slug = f"faults-{uuid.uuid4().hex[:10]}"
    done = subprocess.run([str(BIN / "python"), "-c", KEY_SNIPPET, slug], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pk, raw, public = done.stdout.strip().splitlines()[-1].split()
    return int(pk), raw, public


def _stored(database_url: str, service_id: int) -> list[str]:
    url = urlsplit(database_url)
    conn = psycopg2.connect(host=url.hostname, port=url.port, user="postgres",
                            dbname=url.path.lstrip("/"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT event_id FROM resilience_errorlogentry WHERE service_id = %s",
                        [service_id])
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def _wait_until_stored(database_url: str, service_id: int, expected: set[str],
                       web: Web) -> list[str]:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        stored = _stored(database_url, service_id)
        if set(stored) >= expected:
            return stored
        time.sleep(0.3)
    pytest.fail(f"{len(expected - set(stored))} accepted reports not stored within "
                f"{DRAIN_TIMEOUT} s\n{web.tail()}")


def test_reports_are_accepted_while_postgres_is_stopped_and_stored_once_after(
    postgres_up, env, tmp_path
):
    database_url = postgres_up.database_url
    service_id, key, public_key = _service(env)
    web = Web(env, tmp_path)
    try:
        accepted: set[str] = set()
        for n in range(10):
            status, body = web.report(key, f"up-{n}")
            assert status == 201 and body["id"] and "spooled" not in body, (status, body)
            accepted.add(f"up-{n}")
        # Keys are checked from the in-process cache while the database is down: one
        # Sentry event before the outage caches the public key (an uncached one gets 503).
        warm = uuid.uuid4().hex
        assert web.sentry(service_id, public_key, warm)[0] == 200
        accepted.add(warm)

        postgres_up.stop("fast")
        for n in range(30):
            status, body = web.report(key, f"down-{n}")
            assert status == 201, (status, body, web.tail())
            assert body["spooled"] is True and body["id"] is None
            accepted.add(f"down-{n}")
        # A resend of a spooled report is spooled again; the drain stores it once.
        assert web.report(key, "down-0")[0] == 201
        for _ in range(5):
            event_id = uuid.uuid4().hex
            status, body = web.sentry(service_id, public_key, event_id)
            assert status == 200 and body == {"id": event_id}, (status, body)
            accepted.add(event_id)

        status, ready = web.get("/readyz", Authorization=f"Bearer {METRICS_TOKEN}")
        assert status == 200 and ready["status"] == "degraded", ready
        assert ready["spool_bytes"] > 0
        # /metrics is not exempt from the SSL redirect: as if behind the TLS proxy.
        status, text = web.request("/metrics", None, **{
            "Authorization": f"Bearer {METRICS_TOKEN}", "X-Forwarded-Proto": "https"})
        assert status == 200
        gauges = dict(line.split(" ", 1) for line in text.splitlines()
                      if line.startswith("faultline_spool_"))
        assert float(gauges["faultline_spool_bytes"]) > 0, gauges
        assert float(gauges["faultline_spool_age_seconds"]) >= 0

        postgres_up.start()
        stored = _wait_until_stored(database_url, service_id, accepted, web)
        assert sorted(stored) == sorted(accepted)  # every one, and each exactly once
        assert not list((tmp_path / "spool").glob("*.jsonl"))
        # After the drain, reports are stored directly again.
        status, body = web.report(key, "after")
        assert status == 201 and body["id"], body
    finally:
        web.stop()


def test_a_process_killed_with_a_full_spool_is_drained_by_its_successor(
    postgres_up, env, tmp_path
):
    database_url = postgres_up.database_url
    service_id, key, _ = _service(env)
    web = Web(env, tmp_path)
    accepted = set()
    try:
        assert web.report(key, "warm")[0] == 201  # the key is cached before the outage
        accepted.add("warm")
        postgres_up.stop("immediate")  # a crash, not a clean shutdown
        for n in range(20):
            status, body = web.report(key, f"orphan-{n}")
            assert status == 201 and body["spooled"] is True, (status, body)
            accepted.add(f"orphan-{n}")
    finally:
        web.kill()
    assert list((tmp_path / "spool").glob("*.jsonl"))
    postgres_up.start()
    successor = Web(env, tmp_path)  # drains at start-up, before it is sent anything
    try:
        stored = _wait_until_stored(database_url, service_id, accepted, successor)
        assert sorted(stored) == sorted(accepted)
    finally:
        successor.stop()
