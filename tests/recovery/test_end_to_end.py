"""End to end: a real Celery worker and beat (subprocesses) on a Redis broker, against the
test database. A campaign scheduled a few seconds ahead starts and completes on its own
and its events reach the stream; with the event bus unreachable the events wait in the
outbox and are republished by recovery once the bus is back."""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import redis
from django.apps import apps
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from campaigns import events
from campaigns.models import Campaign, OutboxEvent
from campaigns.status_changes import campaign_schedule
from config.periodic_tasks import sync_periodic_tasks
from resilience import conf
from tests.recovery.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
CLAIM_KEY = "faultline-test-e2e-broker"  # marks the database this test took for its broker
PROCESSOR, RECOVERY = "Campaign timer processor", "Recovery procedures"


def _database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _claim_broker_db(redis_url: str, claim: str) -> str:
    """The Celery broker's own database: the first empty one after REDIS_URL's (wrapping
    round past the last one).

    kombu keeps global names (`unacked`, `_kombu.binding.*`), so the broker cannot share a
    database. A database holding any key but our claim belongs to someone else: passed over,
    never flushed.
    """
    url = urlsplit(redis_url)
    configured = int(url.path.strip("/") or 0)
    databases = int(redis.Redis.from_url(redis_url).config_get("databases")["databases"])
    for db in [(configured + step) % databases for step in range(1, databases)]:
        broker = url._replace(path=f"/{db}").geturl()
        client = redis.Redis.from_url(broker)
        if client.set(CLAIM_KEY, claim, nx=True):
            if client.dbsize() == 1:
                return broker
            client.delete(CLAIM_KEY)
    pytest.fail(f"no empty Redis database besides db {configured} for the Celery broker")


def _release_broker_db(broker: str, claim: str) -> None:
    client = redis.Redis.from_url(broker)
    if client.get(CLAIM_KEY) == claim.encode():  # still ours: every key in it is this test's
        client.flushdb()


def _every(seconds: int) -> IntervalSchedule:
    return IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")[0]


def _wait_for(condition, timeout: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs.glob("*.log"))
    pytest.fail(f"timed out waiting for {what}\n{tails}")


def _schedule(name: str, start_in: float, end_in: float) -> Campaign:
    now = timezone.now()
    campaign = Campaign.objects.create(name=name, start_time=now + timedelta(seconds=start_in),
                                       end_time=now + timedelta(seconds=end_in))
    return campaign_schedule(campaign=campaign)


def _status(campaign: Campaign) -> str:
    return Campaign.objects.get(pk=campaign.pk).status

pytestmark = pytest.mark.usefixtures("restore_migrated_data")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_campaigns_run_on_celery_beat_and_events_survive_a_bus_outage(
    postgres, redis_url, settings, tmp_path
):
    url = urlsplit(redis_url)
    claim = uuid.uuid4().hex
    broker = _claim_broker_db(redis_url, claim)
    stream_prefix = f"e2e-{uuid.uuid4().hex[:10]}"
    settings.EVENT_BUS_URL = redis_url  # the test reads the stream directly
    settings.FAULTLINE = {**settings.FAULTLINE, "EVENT_BUS_STREAM_PREFIX": stream_prefix}
    proxy = TcpProxy((url.hostname, url.port or 6379))
    proxy.start()

    # The schedule as migrate makes it (a transactional test may have flushed it), with
    # the processor every second and recovery off until the bus is back.
    sync_periodic_tasks(apps=apps)
    PeriodicTask.objects.exclude(name=PROCESSOR).update(enabled=False)
    processor = PeriodicTask.objects.get(name=PROCESSOR)
    processor.interval = _every(1)
    processor.save()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": _database_url(),
        "CONN_MAX_AGE": "0",
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": broker,
        "EVENT_BUS_URL": f"redis://127.0.0.1:{proxy.port}{url.path or '/0'}",
        "FAULTLINE_VAR_DIR": str(tmp_path),
        "FAULTLINE_EVENT_BUS_STREAM_PREFIX": stream_prefix,
        "FAULTLINE_CIRCUIT_KEY_PREFIX": conf.get("CIRCUIT_KEY_PREFIX"),
        # Count failures, but never trip the event.publish breaker within this short test.
        "FAULTLINE_CIRCUIT_FAILURE_THRESHOLD": "1000",
        "FAULTLINE_ALERT_ENABLED": "false",
        "LOG_LEVEL": "INFO",
    }
    celery = [sys.executable, "-m", "celery", "-A", "config"]
    commands = {
        "worker": [*celery, "worker", "-Q", "maintenance,replay,digest,alerts", "-P", "solo",
                   "--without-gossip", "--without-mingle", "--without-heartbeat"],
        "beat": [*celery, "beat", "-S", "django_celery_beat.schedulers:DatabaseScheduler",
                 "--max-interval", "1", "-s", str(tmp_path / "beat-schedule")],
    }
    procs = []
    try:
        for name, command in commands.items():
            log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed by the OS
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                          stderr=subprocess.STDOUT))

        # 1. The bus is up: the campaign starts and completes on its own; events on the stream.
        first = _schedule("e2e-up", start_in=3, end_in=6)
        _wait_for(lambda: _status(first) == "COMPLETED", 40, "the first campaign", tmp_path)
        _wait_for(lambda: not OutboxEvent.objects.exclude(status="PUBLISHED").exists(), 10,
                  "the first campaign's events to be published", tmp_path)
        seen = [(e.topic, e.payload["campaign_id"]) for e in events.events_read()]
        assert seen == [("lifecycle.campaign.started", first.pk),
                        ("lifecycle.campaign.completed", first.pk)]

        # 2. The bus goes away: the lifecycle goes on, its events wait in the outbox.
        proxy.stop()
        second = _schedule("e2e-down", start_in=1, end_in=3)
        _wait_for(lambda: _status(second) == "COMPLETED", 30, "the second campaign", tmp_path)
        waiting = OutboxEvent.objects.filter(payload__campaign_id=second.pk).order_by("id")
        assert [(e.topic, e.status) for e in waiting] == [
            ("lifecycle.campaign.started", "PENDING"),
            ("lifecycle.campaign.completed", "PENDING")]
        # The first was tried and failed; the second queued up behind it (order).
        assert waiting[0].attempts >= 1 and "Error" in waiting[0].last_error
        assert len(events.events_read()) == 2  # nothing new reached the stream

        # 3. The bus is back: recovery republishes the backlog, in order.
        proxy.start()
        recovery = PeriodicTask.objects.get(name=RECOVERY)
        recovery.interval, recovery.enabled = _every(1), True
        recovery.save()
        _wait_for(lambda: not waiting.exclude(status="PUBLISHED").exists(), 30,
                  "the outbox to be republished", tmp_path)
        seen = [(e.topic, e.payload["campaign_id"]) for e in events.events_read()]
        assert seen[2:] == [("lifecycle.campaign.started", second.pk),
                            ("lifecycle.campaign.completed", second.pk)]
        assert seen[:2] == [("lifecycle.campaign.started", first.pk),
                            ("lifecycle.campaign.completed", first.pk)]
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=10)
        proxy.stop()
        events.client().delete(events.stream_key("lifecycle"))
        _release_broker_db(broker, claim)
