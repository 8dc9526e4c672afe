"""Lifecycle events: written to the outbox with the status change, published after the
commit; when the bus is down the row stays PENDING (recorded by the guard, no second row)
and the republisher sends the backlog in order."""

import pytest
from django.db import transaction

from campaigns.models import OutboxEvent
from campaigns.outbox import (
    lifecycle_event_record,
    outbox_publish,
    outbox_republish,
)
from resilience import conf
from resilience.circuits.services import circuit_force
from resilience.models import ErrorLogEntry


def record(capture, topic="lifecycle.campaign.started", **payload):
    with capture(execute=True):
        return lifecycle_event_record(topic, payload or {"campaign_id": 1})


def test_the_event_is_published_after_the_commit(fake_bus, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = lifecycle_event_record("lifecycle.campaign.started", {"campaign_id": 1})
    assert fake_bus == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    event.refresh_from_db()
    assert event.status == "PUBLISHED" and event.attempts == 1
    assert fake_bus == [("lifecycle.campaign.started", {"campaign_id": 1}, str(event.pk))]


def test_a_rolled_back_change_publishes_nothing(fake_bus, django_capture_on_commit_callbacks):
    with (django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError),
          transaction.atomic()):
        lifecycle_event_record("lifecycle.campaign.started", {"campaign_id": 1})
        raise RuntimeError("the status change failed")
    assert not OutboxEvent.objects.exists() and fake_bus == []


def test_with_the_bus_down_the_event_stays_in_the_outbox_once(
    bus_down, django_capture_on_commit_callbacks
):
    event = record(django_capture_on_commit_callbacks)
    event.refresh_from_db()
    assert OutboxEvent.objects.count() == 1  # the fallback kept this row, wrote no other
    assert event.status == "PENDING" and event.attempts == 1
    assert "ConnectionError" in event.last_error
    entry = ErrorLogEntry.objects.get(operation="event.publish")  # the guard recorded it
    assert entry.category == "TRANSIENT"  # the seed's ConnectionError
    assert entry.context["outbox_event_id"] == event.pk


def test_once_retries_are_used_up_the_guard_falls_back_and_the_row_is_kept(
    fake_bus, settings, django_capture_on_commit_callbacks
):
    event = OutboxEvent.objects.create(topic="lifecycle.campaign.started", payload={},
                                       attempts=conf.get("RETRY_MAX_ATTEMPTS"))
    fake_bus.down = True
    assert outbox_publish(event.pk) == "failed"
    entry = ErrorLogEntry.objects.get(operation="event.publish")
    assert entry.strategy == "FALLBACK" and entry.outcome == "SUCCEEDED"
    assert OutboxEvent.objects.count() == 1
    event.refresh_from_db()
    assert event.status == "PENDING" and event.attempts == 4


def test_without_a_bus_nothing_is_tried_and_nothing_recorded(
    no_bus, django_capture_on_commit_callbacks
):
    event = record(django_capture_on_commit_callbacks)
    event.refresh_from_db()
    assert event.status == "PENDING" and event.attempts == 0 and event.last_error == ""
    assert not ErrorLogEntry.objects.exists()  # no error storm
    result = outbox_republish()
    assert (result.outcome, result.pending, result.published) == ("no_bus", 1, [])


def test_the_republisher_sends_the_backlog_in_id_order(fake_bus):
    events = [OutboxEvent.objects.create(topic="lifecycle.campaign.started",
                                         payload={"n": n}, attempts=1) for n in range(5)]
    result = outbox_republish()
    assert result.outcome == "done" and result.pending == 0
    assert result.published == [e.pk for e in events]
    assert [p["n"] for _, p, _ in fake_bus] == [0, 1, 2, 3, 4]
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {"PUBLISHED"}


def test_the_republisher_stops_at_the_first_failure(fake_bus, monkeypatch):
    events = [OutboxEvent.objects.create(topic="lifecycle.campaign.started", payload={"n": n})
              for n in range(4)]
    original = fake_bus.publish

    def flaky(topic, payload, **kwargs):
        if payload["n"] == 2:
            raise ConnectionResetError(104, "reset")
        return original(topic, payload, **kwargs)

    from campaigns import events as bus

    monkeypatch.setattr(bus, "event_publish", flaky)
    result = outbox_republish()
    assert result.outcome == "stopped" and result.failed_id == events[2].pk
    assert result.published == [events[0].pk, events[1].pk]
    statuses = dict(OutboxEvent.objects.values_list("id", "status"))
    assert [statuses[e.pk] for e in events] == ["PUBLISHED", "PUBLISHED", "PENDING", "PENDING"]
    assert OutboxEvent.objects.get(pk=events[2].pk).attempts == 1


def test_after_max_attempts_an_event_is_failed_and_the_queue_moves_on(fake_bus, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "RECOVERY_OUTBOX_MAX_ATTEMPTS": 3}
    stuck = OutboxEvent.objects.create(topic="lifecycle.x", payload={}, attempts=2)
    after = OutboxEvent.objects.create(topic="lifecycle.x", payload={})
    fake_bus.down = True
    assert outbox_republish().outcome == "stopped"
    stuck.refresh_from_db()
    assert stuck.status == "FAILED" and stuck.attempts == 3
    fake_bus.down = False
    assert outbox_republish().published == [after.pk]


def test_a_new_event_waits_behind_older_failed_ones(fake_bus):
    older = OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": 0}, attempts=1)
    newer = OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": 1})
    assert outbox_publish(newer.pk) == "queued"
    assert outbox_republish().published == [older.pk, newer.pk]


def test_an_open_event_publish_circuit_skips_the_republisher(fake_bus):
    OutboxEvent.objects.create(topic="lifecycle.x", payload={})
    circuit_force(operation="event.publish", state="FORCED_OPEN", actor=None)
    assert outbox_republish().outcome == "circuit_open"
    assert fake_bus == []


def test_the_event_publish_fallback_still_stores_other_events(db):
    import resilience

    with resilience.guard("event.publish", topic="orders.shipped", payload={"id": 3},
                          attempt_count=3) as g:
        raise ConnectionError("bus down")
    assert g.result.fallback_result["outbox_event_id"] == OutboxEvent.objects.get().pk


def test_at_most_a_hundred_events_are_republished_a_run(fake_bus):
    # The seed's recoverEventQueue: `limit: 100` (RECOVERY_OUTBOX_BATCH_SIZE).
    OutboxEvent.objects.bulk_create(
        OutboxEvent(topic="lifecycle.x", payload={"n": n}) for n in range(101))
    result = outbox_republish()
    assert len(result.published) == 100 and result.pending == 1
    assert [p["n"] for _, p, _ in fake_bus] == list(range(100))


def _flaky_bus(fake_bus, monkeypatch, failing: set[int]):
    original = fake_bus.publish

    def publish(topic, payload, **kwargs):
        if payload["n"] in failing:
            raise ConnectionResetError(104, "reset")
        return original(topic, payload, **kwargs)

    from campaigns import events as bus

    monkeypatch.setattr(bus, "event_publish", publish)


def test_without_keeping_order_a_failed_event_is_passed_over_as_in_the_seed(
    fake_bus, monkeypatch, settings
):
    # The seed: publish → 'republished', failure → 'failed', next event. Its statuses are
    # PUBLISHED and FAILED here; one attempt, then FAILED, is RECOVERY_OUTBOX_MAX_ATTEMPTS=1.
    settings.FAULTLINE = {**settings.FAULTLINE, "RECOVERY_OUTBOX_KEEP_ORDER": False,
                          "RECOVERY_OUTBOX_MAX_ATTEMPTS": 1}
    events = [OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": n})
              for n in range(4)]
    _flaky_bus(fake_bus, monkeypatch, failing={1})
    result = outbox_republish()
    assert result.outcome == "done"
    assert result.published == [events[0].pk, events[2].pk, events[3].pk]
    assert result.failed == result.given_up == [events[1].pk]
    statuses = dict(OutboxEvent.objects.values_list("id", "status"))
    assert [statuses[e.pk] for e in events] == ["PUBLISHED", "FAILED", "PUBLISHED", "PUBLISHED"]
    assert OutboxEvent.Status.PUBLISHED.label == "Republished"


def test_passing_over_still_retries_until_the_attempt_limit(fake_bus, monkeypatch, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "RECOVERY_OUTBOX_KEEP_ORDER": False}
    stuck = OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": 0})
    later = OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": 1})
    _flaky_bus(fake_bus, monkeypatch, failing={0})
    result = outbox_republish()
    assert (result.failed, result.given_up, result.published) == ([stuck.pk], [], [later.pk])
    stuck.refresh_from_db()
    assert stuck.status == "PENDING" and stuck.attempts == 1  # tried once a run


def test_every_event_gets_a_republish_even_with_a_single_attempt(
    bus_down, settings, django_capture_on_commit_callbacks
):
    settings.FAULTLINE = {**settings.FAULTLINE, "RECOVERY_OUTBOX_MAX_ATTEMPTS": 1}
    event = record(django_capture_on_commit_callbacks)
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("PENDING", 1)  # the first publish gives up nothing
    result = outbox_republish()
    event.refresh_from_db()
    assert result.given_up == [event.pk] and event.status == "FAILED"


def test_a_circuit_opening_during_the_run_costs_no_attempt(fake_bus, monkeypatch):
    first = OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": 0})
    second = OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": 1})
    original = fake_bus.publish

    def then_open(topic, payload, **kwargs):
        circuit_force(operation="event.publish", state="FORCED_OPEN", actor=None)
        return original(topic, payload, **kwargs)

    from campaigns import events as bus

    monkeypatch.setattr(bus, "event_publish", then_open)
    result = outbox_republish()
    assert result.outcome == "circuit_open" and result.published == [first.pk]
    second.refresh_from_db()
    assert (second.status, second.attempts) == ("PENDING", 0)
    assert second.last_error.startswith("CircuitOpenError")
    newer = OutboxEvent.objects.create(topic="lifecycle.x", payload={"n": 2})
    assert outbox_publish(newer.pk) == "queued"  # still behind the held-up one
