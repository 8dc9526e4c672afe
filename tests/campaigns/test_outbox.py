"""Lifecycle events: written to the outbox with the status change, published after the
commit; when the bus is down the row stays PENDING (recorded by the guard, no second row)
and the republisher sends the backlog in order."""

import pytest
from django.db import transaction

from campaigns.models import OutboxEvent
from campaigns.services import (
    lifecycle_event_record,
    outbox_publish,
    outbox_republish,
)
from resilience.models import ErrorLogEntry
from resilience.services.circuits import circuit_force


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
    assert entry.category == "EXTERNAL_DEPENDENCY"
    assert entry.context["outbox_event_id"] == event.pk


def test_once_retries_are_used_up_the_guard_falls_back_and_the_row_is_kept(
    fake_bus, settings, django_capture_on_commit_callbacks
):
    event = OutboxEvent.objects.create(topic="lifecycle.campaign.started", payload={},
                                       attempts=settings.FAULTLINE["RETRY_MAX_ATTEMPTS"])
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
