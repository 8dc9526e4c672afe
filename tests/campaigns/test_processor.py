"""The timer processor: claim, execute under the guard, lifecycle transition, outbox."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from campaigns.status_changes import campaign_schedule
from campaigns.timers import timer_execute, timers_claim_due, timers_process_due
from resilience.circuits.services import circuit_force
from resilience.models import ErrorLogEntry


@pytest.fixture
def due_campaign(make_campaign):
    """A scheduled campaign whose start is due now and whose end is due in an hour."""
    campaign = make_campaign(start_in=timedelta(seconds=-5), end_in=timedelta(hours=1))
    return campaign_schedule(campaign=campaign)


def process(capture, **kwargs):
    with capture(execute=True):
        return timers_process_due(**kwargs)


def test_a_due_start_timer_starts_the_campaign_and_publishes_the_event(
    due_campaign, fake_bus, django_capture_on_commit_callbacks
):
    result = process(django_capture_on_commit_callbacks)
    start = CampaignTimer.objects.get(type="campaign.start")
    assert result.claimed == [start.pk]
    assert result.outcomes == {"completed": [start.pk]}
    due_campaign.refresh_from_db()
    start.refresh_from_db()
    assert due_campaign.status == "RUNNING"
    assert start.status == "COMPLETED" and start.executed_at is not None
    assert CampaignTimer.objects.get(type="campaign.end").status == "PENDING"  # not due
    event = OutboxEvent.objects.get()
    assert event.status == "PUBLISHED" and event.published_at is not None
    [(topic, payload, event_id)] = fake_bus
    assert topic == "lifecycle.campaign.started"
    assert event_id == str(event.pk)
    assert payload["campaign_id"] == due_campaign.pk
    assert (payload["status"], payload["previous_status"]) == ("RUNNING", "SCHEDULED")
    assert payload["trigger"] == "timer" and payload["timer_id"] == start.pk


def test_the_end_timer_completes_it(due_campaign, fake_bus, django_capture_on_commit_callbacks):
    process(django_capture_on_commit_callbacks)
    CampaignTimer.objects.filter(type="campaign.end").update(scheduled_at=timezone.now())
    process(django_capture_on_commit_callbacks)
    due_campaign.refresh_from_db()
    assert due_campaign.status == "COMPLETED"
    assert [t for t, _, _ in fake_bus] == ["lifecycle.campaign.started",
                                            "lifecycle.campaign.completed"]


def test_nothing_before_its_time(make_campaign, fake_bus):
    campaign_schedule(campaign=make_campaign(start_in=timedelta(minutes=5)))
    assert timers_process_due().claimed == []
    assert set(CampaignTimer.objects.values_list("status", flat=True)) == {"PENDING"}


def test_claiming_marks_running_with_the_claim_time(due_campaign):
    now = timezone.now()
    [timer_id] = timers_claim_due(now=now)
    timer = CampaignTimer.objects.get(pk=timer_id)
    assert timer.status == "RUNNING" and timer.updated_at == now
    assert timers_claim_due(now=now) == []  # claimed once


def test_the_claim_respects_the_batch_size(make_campaign, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "TIMER_PROCESSOR_BATCH_SIZE": 3}
    for _ in range(5):
        campaign_schedule(campaign=make_campaign())
    assert len(timers_claim_due()) == 3
    assert len(timers_claim_due()) == 2


def test_an_illegal_transition_fails_the_timer_with_a_clear_error_and_no_retry(
    due_campaign, fake_bus, django_capture_on_commit_callbacks
):
    Campaign.objects.filter(pk=due_campaign.pk).update(status="CANCELLED")
    result = process(django_capture_on_commit_callbacks)
    timer = CampaignTimer.objects.get(type="campaign.start")
    assert result.outcomes == {"failed": [timer.pk]}
    assert timer.status == "FAILED"
    assert "cannot start a CANCELLED campaign (CANCELLED is final)" in timer.error_message
    assert timer.next_retry_at is None  # just as illegal later: not retried
    assert timer.retry_count == 1
    assert Campaign.objects.get(pk=due_campaign.pk).status == "CANCELLED"
    assert not OutboxEvent.objects.exists() and not fake_bus
    entry = ErrorLogEntry.objects.get(operation="timer.execute")  # the guard recorded it
    assert entry.timer_id == str(timer.pk) and entry.outcome == "SUCCEEDED"  # fallback ran


def test_a_failing_execution_is_rolled_back_and_retried_in_five_minutes(
    due_campaign, fake_bus, monkeypatch, django_capture_on_commit_callbacks
):
    from campaigns import timers

    def broken(topic, payload):
        raise KeyError("payload")  # PERMANENT, recoverable → the timer.execute fallback

    monkeypatch.setattr(timers, "lifecycle_event_record", broken)
    CampaignTimer.objects.filter(type="campaign.start").update(retry_count=2)
    before = timezone.now()
    result = process(django_capture_on_commit_callbacks)
    after = timezone.now()
    timer = CampaignTimer.objects.get(type="campaign.start")
    assert result.outcomes == {"failed": [timer.pk]}
    # The seed's fallback: retryCount = attemptCount + 1 (the guard is told the failures
    # so far), the seed's message, a retry in five minutes.
    assert timer.status == "FAILED" and timer.retry_count == 3
    assert timer.error_message == "Execution failed, scheduled for retry"
    assert before + timedelta(minutes=5) <= timer.next_retry_at <= after + timedelta(minutes=5)
    entry = ErrorLogEntry.objects.get(operation="timer.execute")
    assert entry.attempt_count == 2 and entry.outcome == "SUCCEEDED"
    # The status change and the event were one transaction: neither happened.
    assert Campaign.objects.get(pk=due_campaign.pk).status == "SCHEDULED"
    assert not OutboxEvent.objects.exists()


def test_an_error_no_fallback_takes_still_settles_the_timer(
    due_campaign, fake_bus, monkeypatch, django_capture_on_commit_callbacks
):
    from campaigns import timers

    def unreachable(topic, payload):
        raise ConnectionResetError(104, "reset")  # TRANSIENT → RETRY: propagates

    monkeypatch.setattr(timers, "lifecycle_event_record", unreachable)
    result = process(django_capture_on_commit_callbacks)
    timer = CampaignTimer.objects.get(type="campaign.start")
    assert result.outcomes == {"failed": [timer.pk]}
    assert timer.status == "FAILED" and timer.next_retry_at is not None
    assert ErrorLogEntry.objects.get(operation="timer.execute").strategy == "RETRY"


def test_an_open_circuit_claims_nothing(due_campaign, fake_bus):
    circuit_force(operation="timer.execute", state="FORCED_OPEN", actor=None)
    result = timers_process_due()
    assert result.circuit_open and result.claimed == []
    assert set(CampaignTimer.objects.values_list("status", flat=True)) == {"PENDING"}


def test_a_circuit_opening_mid_batch_puts_the_timer_back(due_campaign, fake_bus):
    [timer_id] = timers_claim_due()
    circuit_force(operation="timer.execute", state="FORCED_OPEN", actor=None)
    assert timer_execute(timer_id) == "deferred"
    timer = CampaignTimer.objects.get(pk=timer_id)
    assert timer.status == "PENDING" and timer.retry_count == 0


def test_a_timer_someone_else_settled_is_skipped(due_campaign, fake_bus):
    [timer_id] = timers_claim_due()
    CampaignTimer.objects.filter(pk=timer_id).update(status="COMPLETED")
    assert timer_execute(timer_id) == "skipped"
    assert Campaign.objects.get(pk=due_campaign.pk).status == "SCHEDULED"


def test_the_celery_task_runs_the_processor(due_campaign, fake_bus,
                                            django_capture_on_commit_callbacks):
    from campaigns.tasks import timers_process

    with django_capture_on_commit_callbacks(execute=True):
        assert timers_process() == 1
    assert Campaign.objects.get(pk=due_campaign.pk).status == "RUNNING"
