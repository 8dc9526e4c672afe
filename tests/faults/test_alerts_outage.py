"""No alert is lost to an outage (issue 12): PostgreSQL really stopped while a CRITICAL
signal waits for a real Celery worker on the alerts queue, started again a few seconds
later, and the alert reaches its webhook exactly once.

The broker is a private Redis that stays up (the database is what fails here); the worker
and the set-up run as subprocesses on production-like settings (config.settings.base)
against the private cluster of tests/faults/conftest.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
from kombu import Connection

from alerts import tasks
from tests.faults.services import free_port

BASE_DIR = Path(__file__).resolve().parents[2]
PYTHON = str(BASE_DIR / ".venv" / "bin" / "python")
CELERY = str(BASE_DIR / ".venv" / "bin" / "celery")

# Rows made by a subprocess in the private database: a webhook channel and a rule taking
# CRITICAL alerts to it, one IMMEDIATE_ALERT entry, digested. The digest's hook publishes to
# CELERY_BROKER_URL as production does; the payload is printed for the test to queue.
SETUP = """
import json, django
django.setup()
from alerts.hooks import digest_payload
from alerts.models import AlertRule, Channel
from resilience.digest.service import digest_batch
from tests.alerts.helpers import CRITICAL
from tests.factories import ErrorLogEntryFactory, ServiceFactory

channel = Channel.objects.create(kind="WEBHOOK", name={tag!r} + " webhook", url={url!r},
                                 secret="whsec-outage-0123456789", enabled=True)
rule = AlertRule.objects.create(name={tag!r} + " critical", levels=["CRITICAL"])
rule.channels.set([channel])
ErrorLogEntryFactory(service=ServiceFactory(name={tag!r}), **CRITICAL)
print(json.dumps(digest_payload(digest_batch(limit=100))))
"""

IN_PLACE = """
import json, sys, django
django.setup()
from alerts.hooks import digest_evaluate_in_place
digest_evaluate_in_place(json.loads(sys.argv[1]))
"""


def _env(db_url: str, tmp_path: Path, *, broker_url: str = "memory://",
         redis_url: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FAULTLINE_", "CELERY_", "DJANGO_", "REDIS_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.base", "DATABASE_URL": db_url,
                "CELERY_BROKER_URL": broker_url,
                "FAULTLINE_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
                "FAULTLINE_ALERT_CRITICAL_LOG_PATH": str(tmp_path / "critical-alerts.log"),
                "FAULTLINE_ALERT_TASK_RETRY_BASE_SECONDS": "0.5",
                "FAULTLINE_ALERT_TASK_RETRY_CAP_SECONDS": "2", "PYTHONUNBUFFERED": "1"})
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def _wait(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def _setup(env: dict[str, str], url: str, *, tag: str) -> dict:
    done = subprocess.run([PYTHON, "-c", SETUP.format(url=url, tag=tag)], cwd=BASE_DIR,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(done.stdout.strip().splitlines()[-1])
    assert payload["immediate"], payload
    return payload


def _alerts(db_url: str, *, tag: str) -> list[tuple]:
    conn = psycopg2.connect(db_url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT a.id, a.status, d.status FROM alerts_alert a "
                        "JOIN alerts_alertdelivery d ON d.alert_id = a.id "
                        "WHERE a.kind = 'immediate' AND d.channel_name = %s", [f"{tag} webhook"])
            return cur.fetchall()
    finally:
        conn.close()


@pytest.mark.skipif(sys.platform != "linux", reason="private servers need Linux")
def test_a_critical_alert_evaluated_while_postgres_is_down_is_delivered_once_it_returns(
        postgres_up, private_redis, httpserver, tmp_path):
    cluster, db_url = postgres_up, postgres_up.database_url
    httpserver.expect_request("/outage-hook", method="POST").respond_with_data("ok")
    broker = private_redis.url(0)
    env = _env(db_url, tmp_path, broker_url=broker, redis_url=private_redis.url(1))
    payload = _setup({**env, "CELERY_BROKER_URL": "memory://"},
                     httpserver.url_for("/outage-hook"), tag="db-outage")

    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [CELERY, "-A", "config", "worker", "-Q", "alerts", "-c", "1", "--pool", "solo",
             "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: "ready." in log_path.read_text(), timeout=60, what="worker start")
        cluster.stop()
        with Connection(broker) as conn:
            tasks.alerts_evaluate_digest.apply_async(kwargs=payload, connection=conn)
        # The worker meets the outage and schedules its retries instead of dropping it.
        _wait(lambda: "retry 2 in" in log_path.read_text(), timeout=30,
              what="two retries of the evaluation")
        assert not httpserver.log
        cluster.start()

        _wait(lambda: len(httpserver.log) >= 1, timeout=60, what="the webhook delivery")
        time.sleep(3)  # a duplicate (a second evaluation or send) would arrive by now
        assert len(httpserver.log) == 1
        body = json.loads(httpserver.log[0][0].get_data())
        assert body["level"] == "CRITICAL"
        rows = _alerts(db_url, tag="db-outage")
        assert len(rows) == 1 and rows[0][1:] == ("DELIVERED", "SENT"), rows
        assert not (tmp_path / "critical-alerts.log").exists()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@pytest.mark.skipif(sys.platform != "linux", reason="private servers need Linux")
def test_with_broker_and_database_down_the_digest_signal_reaches_the_critical_log(
        postgres_up, tmp_path):
    """The digest hook's own fallback (the broker refused the message, so it evaluates in
    place) with PostgreSQL down too: a few short retries, then the signal and its
    arguments are in the critical log rather than nowhere."""
    cluster, db_url = postgres_up, postgres_up.database_url
    payload = {"new_groups": [], "regressions": [], "groups": [[41, 1, 97]],
               "immediate": [[41, 97]], "dead_letters": []}
    env = _env(db_url, tmp_path, FAULTLINE_ALERT_TASK_RETRY_BASE_SECONDS="0.1")
    cluster.stop()
    done = subprocess.run([PYTHON, "-c", IN_PLACE, json.dumps(payload)], cwd=BASE_DIR,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (tmp_path / "critical-alerts.log").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["kind"] == "evaluation_failed" and record["level"] == "CRITICAL"
    assert record["source"] == "alerts.hooks.digest_committed"
    assert record["arguments"] == payload
    assert "OperationalError" in record["message"]


@pytest.mark.skipif(sys.platform != "linux", reason="private servers need Linux")
def test_when_the_broker_refuses_the_evaluation_the_digest_worker_evaluates_in_place(
        postgres_up, tmp_path):
    """Nothing listens on the broker's port: the digest's hook cannot queue the evaluation,
    so it evaluates in place; the alert and its delivery are committed, PENDING for the
    sweep since the delivery message cannot be queued either."""
    db_url = postgres_up.database_url
    env = _env(db_url, tmp_path, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    _setup(env, "http://127.0.0.1:9/unreachable", tag="broker-refused")
    rows = _alerts(db_url, tag="broker-refused")
    assert len(rows) == 1 and rows[0][1:] == ("PENDING", "PENDING"), rows
    assert not (tmp_path / "critical-alerts.log").exists()
