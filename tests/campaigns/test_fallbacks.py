"""The seed's four fallbacks (ServiceErrorHandler.executeFallback), through the guard on
PostgreSQL: what each writes, and the result word the caller gets back."""

from datetime import timedelta

import pytest
from django.utils import timezone

import resilience
from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from resilience.models import DeferredWrite, ErrorLogEntry


def _entry(result) -> ErrorLogEntry:
    return ErrorLogEntry.objects.get(pk=result.entry_id)


@pytest.fixture
def timer(db):
    campaign = Campaign.objects.create(name="spring", status="SCHEDULED")
    return CampaignTimer.objects.create(campaign=campaign, type="campaign.start",
                                        scheduled_at=timezone.now(), status="RUNNING",
                                        retry_count=4)


def fail_timer(timer, error=None, **context):
    with resilience.guard("timer.execute", timer_id=timer.pk, campaign_id=timer.campaign_id,
                          **context) as g:
        raise error or KeyError("start_time")  # PERMANENT, recoverable → FALLBACK
    timer.refresh_from_db()
    return g.result


# --- timer.execute ------------------------------------------------------------------------


def test_timer_execute_fails_the_timer_for_a_retry_in_five_minutes_with_the_seeds_message(
    timer,
):
    before = timezone.now()
    result = fail_timer(timer, attempt_count=4)
    after = timezone.now()
    assert result.strategy == "FALLBACK" and result.handled
    assert result.fallback_result["result"] == "rescheduled"
    assert timer.status == "FAILED"
    assert timer.retry_count == 5  # attemptCount + 1
    assert timer.error_message == "Execution failed, scheduled for retry"
    assert before + timedelta(minutes=5) <= timer.next_retry_at <= after + timedelta(minutes=5)
    assert _entry(result).outcome == "SUCCEEDED"


def test_without_an_attempt_count_the_retry_count_is_one(timer):
    # The seed's `(context.attemptCount || 0) + 1`; timer_execute always passes it.
    assert fail_timer(timer).fallback_result["retry_count"] == 1
    assert timer.retry_count == 1


def test_the_timer_retry_delay_is_a_setting(timer, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "TIMER_FALLBACK_RETRY_DELAY_SECONDS": 60}
    before = timezone.now()
    fail_timer(timer)
    after = timezone.now()
    assert before + timedelta(seconds=60) <= timer.next_retry_at <= after + timedelta(seconds=60)


def test_the_error_can_follow_the_seeds_message(timer, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "TIMER_FALLBACK_ERROR_DETAIL": True}
    fail_timer(timer)
    assert timer.error_message == "Execution failed, scheduled for retry: KeyError: 'start_time'"


def test_an_illegal_transition_is_not_rescheduled_unless_the_seeds_rule_is_switched_on(
    timer, settings
):
    from campaigns.lifecycle import IllegalTransition

    result = fail_timer(timer, IllegalTransition("CANCELLED", "start"), attempt_count=4)
    assert result.handled and result.fallback_result["result"] == "not_rescheduled"
    assert timer.status == "FAILED" and timer.next_retry_at is None
    assert timer.error_message == ("IllegalTransition: cannot start a CANCELLED campaign "
                                   "(CANCELLED is final)")

    settings.FAULTLINE = {**settings.FAULTLINE, "TIMER_FALLBACK_RETRY_ILLEGAL_TRANSITIONS": True}
    result = fail_timer(timer, IllegalTransition("CANCELLED", "start"), attempt_count=4)
    assert result.fallback_result["result"] == "rescheduled"
    assert timer.next_retry_at is not None and timer.retry_count == 5
    assert timer.error_message == "Execution failed, scheduled for retry"


def test_a_timer_that_does_not_exist_is_a_failed_fallback(db):
    with pytest.raises(KeyError) as raised, resilience.guard("timer.execute", timer_id=999_999):
        raise KeyError("start_time")
    result = raised.value.faultline
    assert not result.fallback_ran and not result.handled  # the seed's {success: false}
    assert _entry(result).outcome == "FAILED"


# --- campaign.update ------------------------------------------------------------------------


def update_fails(campaign, payload):
    with resilience.guard("campaign.update", campaign_id=campaign.pk, payload=payload) as g:
        raise ValueError("update rejected")
    campaign.refresh_from_db()
    return g.result


@pytest.mark.parametrize("priority", ["low", "LOW"])
def test_a_low_priority_campaign_update_is_skipped(db, priority):
    campaign = Campaign.objects.create(name="c", status="RUNNING")
    stamp = campaign.updated_at
    result = update_fails(campaign, {"priority": priority, "status": "PAUSED"})
    assert result.handled and result.fallback_result["result"] == "skipped"
    assert (campaign.status, campaign.updated_at) == ("RUNNING", stamp)  # nothing written


def test_another_update_writes_only_the_status_and_the_time_with_its_event(
    db, django_capture_on_commit_callbacks
):
    campaign = Campaign.objects.create(name="c", status="RUNNING", priority="NORMAL")
    stamp = campaign.updated_at
    payload = {"status": "PAUSED", "name": "renamed", "priority": "high",
               "end_time": "2030-01-01T00:00:00Z"}
    result = update_fails(campaign, payload)
    assert result.handled and result.fallback_result["result"] == "simplified"
    assert campaign.status == "PAUSED" and campaign.updated_at > stamp
    assert (campaign.name, campaign.priority, campaign.end_time) == ("c", "NORMAL", None)
    event = OutboxEvent.objects.get()  # the lifecycle's rule: no change without its event
    assert event.topic == "lifecycle.campaign.paused"
    assert event.payload["trigger"] == "fallback"
    assert event.payload["previous_status"] == "RUNNING"


def test_scheduling_through_the_fallback_creates_the_timers(db):
    now = timezone.now()
    campaign = Campaign.objects.create(name="c", start_time=now + timedelta(hours=1),
                                       end_time=now + timedelta(hours=2))
    result = update_fails(campaign, {"status": "SCHEDULED"})
    assert result.fallback_result["result"] == "simplified"
    assert campaign.status == "SCHEDULED"
    assert sorted(campaign.timers.values_list("type", flat=True)) == ["campaign.end",
                                                                      "campaign.start"]


def test_an_update_without_a_status_only_touches_the_time(db):
    campaign = Campaign.objects.create(name="c", status="RUNNING")
    stamp = campaign.updated_at
    result = update_fails(campaign, {"name": "renamed"})
    assert result.fallback_result["result"] == "simplified"
    assert campaign.status == "RUNNING" and campaign.name == "c"
    assert campaign.updated_at > stamp
    assert not OutboxEvent.objects.exists()


def test_a_status_the_lifecycle_forbids_is_a_failed_fallback(db):
    campaign = Campaign.objects.create(name="c", status="COMPLETED")
    with pytest.raises(ValueError) as raised, resilience.guard(
        "campaign.update", campaign_id=campaign.pk, payload={"status": "RUNNING"}
    ):
        raise ValueError("update rejected")
    result = raised.value.faultline
    assert not result.fallback_ran and result.fallback_result is None
    assert _entry(result).outcome == "FAILED"
    campaign.refresh_from_db()
    assert campaign.status == "COMPLETED"


# --- database.write, event.publish, anything else ----------------------------------------------


def test_database_write_is_queued_for_later(db):
    with resilience.guard("database.write", payload={"row": 1}, write="orders.insert") as g:
        raise ValueError("bad row")
    assert g.result.handled and g.result.fallback_result["result"] == "queued"
    queued = DeferredWrite.objects.get(pk=g.result.fallback_result["deferred_write_id"])
    assert (queued.operation, queued.payload, queued.status) == ("orders.insert", {"row": 1},
                                                                 "PENDING")
    assert _entry(g.result).outcome == "SUCCEEDED"


def test_event_publish_stores_the_event_locally_pending_republish(db):
    with resilience.guard("event.publish", topic="orders.shipped", payload={"id": 3},
                          attempt_count=3) as g:
        raise ConnectionError("bus down")  # no attempts left → FALLBACK
    assert g.result.strategy == "FALLBACK"
    assert g.result.fallback_result["result"] == "stored_locally"
    stored = OutboxEvent.objects.get(pk=g.result.fallback_result["outbox_event_id"])
    assert (stored.topic, stored.payload, stored.status) == ("orders.shipped", {"id": 3},
                                                             "PENDING")


def test_an_event_already_in_the_outbox_is_kept_not_stored_twice(db):
    kept = OutboxEvent.objects.create(topic="lifecycle.campaign.started", payload={})
    with resilience.guard("event.publish", topic=kept.topic, payload={},
                          outbox_event_id=kept.pk, attempt_count=3) as g:
        raise ConnectionError("bus down")
    assert g.result.fallback_result == {"result": "stored_locally", "outbox_event_id": kept.pk}
    assert OutboxEvent.objects.count() == 1


def test_any_other_operation_has_no_fallback(db):
    with pytest.raises(ValueError) as raised, resilience.guard("report.render"):
        raise ValueError("template missing")
    result = raised.value.faultline
    assert result.strategy == "FALLBACK"
    assert not result.fallback_ran and not result.handled and result.fallback_result is None
    assert _entry(result).outcome == "FAILED"  # the seed's {success: false}


def test_the_decorator_hands_the_caller_the_seeds_result(db):
    @resilience.guard("database.write", payload={"row": 2})
    def write():
        raise ValueError("nope")

    assert write()["result"] == "queued"
