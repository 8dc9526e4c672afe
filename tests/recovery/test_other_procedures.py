"""Recovery procedures: outbox republishing, transient dead letters, deferred writes and
the health checks."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from campaigns.models import OutboxEvent
from recovery.services import procedure_run
from resilience.circuits.services import circuit_force
from resilience.models import DeadLetter, DeferredWrite
from tests.factories import DeadLetterFactory, ReplayTargetFactory
from tests.resilience.dead_letters.conftest import receiver  # noqa: F401 - fixture

# --- outbox ---------------------------------------------------------------------------------


def test_the_outbox_backlog_is_republished(fake_bus):
    events = [OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": n}, attempts=1)
              for n in range(3)]
    run = procedure_run("outbox.republish")
    assert run.outcome == "SUCCEEDED"
    assert run.changed["published"] == 3 and run.changed["ids"] == [e.pk for e in events]
    assert run.changed["pending"] == 0


def test_a_republish_failure_is_recorded_failed(bus_down):
    event = OutboxEvent.objects.create(topic="lifecycle.x", payload={})
    run = procedure_run("outbox.republish")
    assert run.outcome == "FAILED" and run.changed["failed_id"] == event.pk
    assert "ConnectionError" in run.error


def test_without_a_bus_the_republisher_says_so_and_skips(no_bus):
    OutboxEvent.objects.create(topic="lifecycle.x", payload={})
    run = procedure_run("outbox.republish")
    assert run.outcome == "SKIPPED"
    assert run.changed["reason"] == "no event bus configured" and run.changed["pending"] == 1


# --- transient dead letters ------------------------------------------------------------------


@pytest.fixture
def replay_inline(catch_task):
    """The replay queue, run at once in this process."""
    from resilience import tasks
    from resilience.dead_letters.replay import REPLAY_TASK

    catch_task(REPLAY_TASK, lambda kwargs, **options: tasks.dead_letter_replay(**kwargs))


def test_transient_dead_letters_are_replayed_within_their_limit(
    service, receiver, replay_inline, django_capture_on_commit_callbacks  # noqa: F811
):
    ReplayTargetFactory(service=service, operation="payment.charge", url=receiver.url,
                        max_replays=3)
    now = timezone.now()
    due = DeadLetterFactory(service=service, operation="payment.charge", category="TRANSIENT")
    backed_off = DeadLetterFactory(service=service, operation="payment.charge",
                                   category="TRANSIENT", status="FAILED", replay_count=1,
                                   next_replay_at=now - timedelta(seconds=1))
    waiting = DeadLetterFactory(service=service, operation="payment.charge",
                                category="TRANSIENT", status="FAILED", replay_count=1,
                                next_replay_at=now + timedelta(minutes=5))
    at_limit = DeadLetterFactory(service=service, operation="payment.charge",
                                 category="TRANSIENT", status="FAILED", replay_count=3)
    permanent = DeadLetterFactory(service=service, operation="payment.charge",
                                  category="PERMANENT")
    no_target = DeadLetterFactory(service=service, operation="other.op", category="TRANSIENT")
    with django_capture_on_commit_callbacks(execute=True):
        run = procedure_run("dead_letters.replay_transient")
    assert run.outcome == "SUCCEEDED"
    assert run.changed["ids"] == [due.pk, backed_off.pk] and run.changed["queued"] == 2
    status = dict(DeadLetter.objects.values_list("id", "status"))
    assert status[due.pk] == status[backed_off.pk] == "REPLAYED"
    assert status[waiting.pk] == status[at_limit.pk] == "FAILED"
    assert status[permanent.pk] == status[no_target.pk] == "PENDING"
    assert sorted(r.json["dead_letter_id"] for r in receiver.received) == [due.pk,
                                                                            backed_off.pk]


def test_a_failed_automatic_replay_backs_off(service, receiver, replay_inline,  # noqa: F811
                                             django_capture_on_commit_callbacks):
    receiver.status = 503
    ReplayTargetFactory(service=service, operation="payment.charge", url=receiver.url)
    letter = DeadLetterFactory(service=service, operation="payment.charge",
                               category="TRANSIENT")
    with django_capture_on_commit_callbacks(execute=True):
        procedure_run("dead_letters.replay_transient")
    letter.refresh_from_db()
    assert letter.status == "FAILED" and letter.replay_count == 1
    assert letter.next_replay_at > timezone.now() + timedelta(seconds=50)
    with django_capture_on_commit_callbacks(execute=True):
        again = procedure_run("dead_letters.replay_transient")
    assert again.changed["queued"] == 0  # still backing off
    assert len(receiver.received) == 1


def test_nothing_is_replayed_while_the_target_circuit_is_open(service, replay_inline):
    ReplayTargetFactory(service=service, operation="payment.charge")
    DeadLetterFactory(service=service, operation="payment.charge", category="TRANSIENT")
    circuit_force(operation="payment.charge", service_id=service.pk, state="FORCED_OPEN",
                  actor=None)  # the dead letter's own service's circuit
    run = procedure_run("dead_letters.replay_transient")
    assert run.outcome == "SKIPPED" and run.changed["circuit_open"] == ["payment.charge"]
    assert DeadLetter.objects.get().status == "PENDING"


# --- deferred writes ----------------------------------------------------------------------------


def test_deferred_writes_are_reported_and_very_old_ones_marked_failed(db):
    now = timezone.now()
    old = DeferredWrite.objects.create(operation="orders.insert", error="db down",
                                       created_at=now - timedelta(days=8))
    recent = DeferredWrite.objects.create(operation="orders.insert",
                                          created_at=now - timedelta(hours=2))
    DeferredWrite.objects.create(operation="ledger.post", created_at=now - timedelta(hours=1))
    run = procedure_run("deferred_writes.report")
    assert run.outcome == "SUCCEEDED"
    assert run.changed["expired_ids"] == [old.pk]
    assert run.changed["pending"] == 2
    assert run.changed["by_operation"] == {"orders.insert": 1, "ledger.post": 1}
    assert 7100 < run.changed["oldest_age_seconds"] < 7300
    old.refresh_from_db()
    assert old.status == "FAILED" and old.error == "[expired: never applied] db down"
    recent.refresh_from_db()
    assert recent.status == "PENDING"  # nothing is applied, nothing faked


# --- health -------------------------------------------------------------------------------------


def test_health_checks_pass_or_skip_on_the_test_setup(db, settings):
    assert procedure_run("health.database").outcome == "SUCCEEDED"
    assert procedure_run("health.broker").outcome == "SUCCEEDED"
    settings.REDIS_URL = settings.EVENT_BUS_URL = ""
    run = procedure_run("health.redis")
    assert run.outcome == "SKIPPED" and "no Redis configured" in run.changed["reason"]


def test_redis_that_stays_down_raises_an_alert_and_fails(db, settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.EVENT_BUS_URL = ""
    run = procedure_run("health.redis")
    assert run.outcome == "FAILED" and "127.0.0.1:1" in run.error
    assert any(r.levelname == "CRITICAL" and "Redis is down" in r.message
               for r in caplog.records)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("restore_migrated_data")
def test_a_dropped_database_connection_is_reconnected(postgres):
    # The seed's recoverDatabaseConnections: SELECT 1; on failure reconnect. Here the
    # server really drops this process's connection.
    import psycopg2
    from django.db import connection

    connection.ensure_connection()
    pid = connection.connection.get_backend_pid()
    params = connection.settings_dict
    other = psycopg2.connect(dbname=params["NAME"], **{
        key: params[name] for key, name in (("host", "HOST"), ("user", "USER"),
                                             ("port", "PORT"), ("password", "PASSWORD"))
        if params[name]})
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])  # waits for it
            assert cursor.fetchone()[0] is True
    finally:
        other.close()
    run = procedure_run("health.database")
    assert run.outcome == "SUCCEEDED", run.error
    assert run.changed["reconnected"] is True and "database:" in run.changed["first_error"]
    assert connection.connection.get_backend_pid() != pid


def test_a_database_that_comes_back_after_a_reconnect_is_up(db):
    from resilience.observability import health

    answers = iter(["database: OperationalError: server closed the connection", None])
    with mock.patch.object(health, "check_database", lambda: next(answers)):
        run = procedure_run("health.database")
    assert run.outcome == "SUCCEEDED" and run.changed["reconnected"] is True


def test_a_broker_that_stays_down_is_failed_with_an_alert(db, monkeypatch):
    from recovery import alerting
    from resilience.observability import health

    alerts = []
    monkeypatch.setattr(health, "check_broker", lambda: "broker: refused")
    monkeypatch.setattr(alerting, "_alerts_hook",
                        lambda: lambda **kw: alerts.append(kw))
    run = procedure_run("health.broker")
    assert run.outcome == "FAILED" and run.error == "broker: refused"
    assert alerts == [{"title": "Broker is down", "detail": "broker: refused",
                       "source": "health.broker"}]


def test_a_database_that_stays_down_is_alerted_even_when_the_run_cannot_be_recorded(
    db, monkeypatch, caplog
):
    from recovery import alerting, services
    from resilience.observability import health

    alerts = []
    monkeypatch.setattr(health, "check_database", lambda: "database: connection refused")
    monkeypatch.setattr(alerting, "_alerts_hook", lambda: lambda **kw: alerts.append(kw))

    def unrecordable(**kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(services.RecoveryRun.objects, "create", unrecordable)
    assert services.procedure_run("health.database") is None
    assert alerts and alerts[0]["title"] == "Database is down"
    assert any(r.levelname == "CRITICAL" and "could not record" in r.message
               for r in caplog.records)


def test_the_republisher_run_lists_what_failed(fake_bus, settings, monkeypatch):
    settings.FAULTLINE = {**settings.FAULTLINE, "RECOVERY_OUTBOX_KEEP_ORDER": False,
                          "RECOVERY_OUTBOX_MAX_ATTEMPTS": 1}
    ok = OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": 0})
    bad = OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": 1})
    original = fake_bus.publish

    def publish(topic, payload, **kwargs):
        if payload["n"] == 1:
            raise ConnectionResetError(104, "reset")
        return original(topic, payload, **kwargs)

    from campaigns import events as bus

    monkeypatch.setattr(bus, "event_publish", publish)
    run = procedure_run("outbox.republish")
    # The seed's recoverEventQueue catches each failure: the procedure itself succeeds.
    assert run.outcome == "SUCCEEDED"
    assert (run.changed["ids"], run.changed["failed_ids"]) == ([ok.pk], [bad.pk])
    assert run.changed["given_up_ids"] == [bad.pk] and run.changed["pending"] == 0
