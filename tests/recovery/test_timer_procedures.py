"""Recovery of campaign timers and campaigns, each through its procedure and RecoveryRun."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from campaigns.status_changes import campaign_schedule
from recovery.services import procedure_run
from resilience.models import DeadLetter


@pytest.fixture
def scheduled(make_campaign):
    return campaign_schedule(campaign=make_campaign(start_in=timedelta(minutes=-10)))


def start_timer():
    return CampaignTimer.objects.get(type="campaign.start")


def set_timer(**fields):
    CampaignTimer.objects.filter(type="campaign.start").update(**fields)


def test_a_timer_running_too_long_is_failed_with_a_retry_in_two_minutes(scheduled, settings):
    now = timezone.now()
    set_timer(status="RUNNING", updated_at=now - timedelta(minutes=6), retry_count=2)
    fresh = CampaignTimer.objects.get(type="campaign.end")
    CampaignTimer.objects.filter(pk=fresh.pk).update(status="RUNNING",
                                                     updated_at=now - timedelta(minutes=4))
    run = procedure_run("timers.reclaim_stuck")
    timer = start_timer()
    assert run.outcome == "SUCCEEDED" and run.changed["ids"] == [timer.pk]
    assert run.changed["stuck_seconds"] == 300  # the seed's 5 minutes
    assert timer.status == "FAILED" and timer.retry_count == 3  # retryCount + 1
    assert timer.next_retry_at == run.started_at + timedelta(minutes=2)
    assert timer.error_message == "Timer stuck in RUNNING state - recovered"
    assert CampaignTimer.objects.get(pk=fresh.pk).status == "RUNNING"  # 4 min: not yet


def test_the_stuck_age_and_the_retry_delay_are_settings(scheduled, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "RECOVERY_TIMER_STUCK_SECONDS": 120,
                          "RECOVERY_TIMER_RETRY_DELAY_SECONDS": 30}
    set_timer(status="RUNNING", updated_at=timezone.now() - timedelta(minutes=3))
    run = procedure_run("timers.reclaim_stuck")
    timer = start_timer()
    assert run.changed["ids"] == [timer.pk]
    assert timer.next_retry_at == run.started_at + timedelta(seconds=30)


def test_a_failed_timer_due_for_retry_is_pending_again(scheduled):
    set_timer(status="FAILED", retry_count=2, next_retry_at=timezone.now() - timedelta(seconds=1))
    waiting = CampaignTimer.objects.get(type="campaign.end")
    CampaignTimer.objects.filter(pk=waiting.pk).update(
        status="FAILED", retry_count=1, next_retry_at=timezone.now() + timedelta(minutes=1))
    run = procedure_run("timers.retry_failed")
    timer = start_timer()
    assert run.changed["retried"] == 1 and run.changed["retried_ids"] == [timer.pk]
    assert timer.status == "PENDING" and timer.next_retry_at is None
    assert timer.retry_count == 2  # failures so far, kept
    assert CampaignTimer.objects.get(pk=waiting.pk).status == "FAILED"  # not yet due


def test_past_the_limit_a_timer_is_dead_lettered_once_and_stays_failed(scheduled, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "RECOVERY_TIMER_MAX_RETRIES": 5}
    at_limit = start_timer()
    set_timer(status="FAILED", retry_count=5, next_retry_at=timezone.now())
    end = CampaignTimer.objects.get(type="campaign.end")
    CampaignTimer.objects.filter(pk=end.pk).update(
        status="FAILED", retry_count=6, next_retry_at=timezone.now(), error_message="boom")
    run = procedure_run("timers.retry_failed")
    assert run.changed["retried_ids"] == [at_limit.pk]  # 5 failures: the 5th retry is allowed
    assert run.changed["dead_lettered_ids"] == [end.pk]
    end.refresh_from_db()
    assert end.status == "FAILED" and end.next_retry_at is None
    assert end.error_message == "[dead-lettered] boom"
    letter = DeadLetter.objects.get()
    assert run.changed["dead_letter_ids"] == [letter.pk]
    assert letter.operation == "timer.execute" and letter.attempt_count == 6
    assert letter.payload == {"timer_id": end.pk, "campaign_id": scheduled.pk,
                              "type": "campaign.end"}
    assert "failed 6 times" in letter.reason and "boom" in letter.reason
    assert letter.service.slug == "faultline"
    procedure_run("timers.retry_failed")
    assert DeadLetter.objects.count() == 1  # never twice


def test_replaying_a_dead_lettered_timer_puts_it_back(scheduled):
    from campaigns.tasks import timer_replay

    set_timer(status="FAILED", retry_count=6, next_retry_at=None)
    assert timer_replay(payload={"timer_id": start_timer().pk})
    timer = start_timer()
    assert (timer.status, timer.retry_count) == ("PENDING", 0)


def test_an_overdue_pending_timer_is_executed(scheduled, fake_bus,
                                              django_capture_on_commit_callbacks):
    # The start timer is 10 minutes overdue (the processor was down); the end is not due.
    with django_capture_on_commit_callbacks(execute=True):
        run = procedure_run("timers.run_overdue")
    timer = start_timer()
    assert run.outcome == "SUCCEEDED"
    assert run.changed["executed"] == 1 and run.changed["completed_ids"] == [timer.pk]
    assert timer.status == "COMPLETED"
    assert Campaign.objects.get(pk=scheduled.pk).status == "RUNNING"
    assert [t for t, _, _ in fake_bus] == ["lifecycle.campaign.started"]


def test_a_timer_just_due_is_left_to_the_processor(make_campaign, fake_bus):
    campaign_schedule(campaign=make_campaign(start_in=timedelta(seconds=-30)))
    run = procedure_run("timers.run_overdue")
    assert run.changed["executed"] == 0
    assert start_timer().status == "PENDING"


def test_a_timer_over_a_minute_overdue_is_executed(make_campaign, fake_bus):
    campaign_schedule(campaign=make_campaign(start_in=timedelta(seconds=-75)))
    run = procedure_run("timers.run_overdue")
    assert run.changed["executed"] == 1 and start_timer().status == "COMPLETED"


def _running_past_end(make_campaign, end_status=None, past=timedelta(minutes=6), **end_fields):
    campaign = campaign_schedule(campaign=make_campaign(start_in=timedelta(hours=-2),
                                                       end_in=-past))
    Campaign.objects.filter(pk=campaign.pk).update(status="RUNNING")
    CampaignTimer.objects.filter(campaign=campaign, type="campaign.start").update(
        status="COMPLETED")
    end = CampaignTimer.objects.filter(campaign=campaign, type="campaign.end")
    if end_status is None:
        end.delete()
    else:
        end.update(status=end_status, **end_fields)
    return campaign


def test_a_running_campaign_past_its_end_with_no_end_timer_to_come_is_completed(
    make_campaign, fake_bus, django_capture_on_commit_callbacks
):
    no_timer = _running_past_end(make_campaign)
    dead = _running_past_end(make_campaign, "FAILED", next_retry_at=None)
    pending = _running_past_end(make_campaign, "PENDING")
    retrying = _running_past_end(make_campaign, "FAILED",
                                 next_retry_at=timezone.now() + timedelta(minutes=1))
    still_on = make_campaign(status="RUNNING", end_in=timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        run = procedure_run("campaigns.complete_overdue")
    assert sorted(run.changed["ids"]) == sorted([no_timer.pk, dead.pk])
    status = dict(Campaign.objects.values_list("id", "status"))
    assert status[no_timer.pk] == status[dead.pk] == "COMPLETED"
    assert status[pending.pk] == status[retrying.pk] == status[still_on.pk] == "RUNNING"
    events = OutboxEvent.objects.filter(topic="lifecycle.campaign.completed")
    assert {e.payload["campaign_id"] for e in events} == {no_timer.pk, dead.pk}
    assert {e.payload["trigger"] for e in events} == {"auto_recovery"}
    assert {e.payload["reason"] for e in events} == {"campaign_stuck_past_end_time"}
    assert {e.payload["at"] for e in events} == {run.started_at.isoformat()}  # the timestamp
    assert {e.status for e in events} == {"PUBLISHED"}
    assert [(topic, p["campaign_id"], p["trigger"]) for topic, p, _ in sorted(
        fake_bus, key=lambda e: e[1]["campaign_id"])] == [
        ("lifecycle.campaign.completed", no_timer.pk, "auto_recovery"),
        ("lifecycle.campaign.completed", dead.pk, "auto_recovery")]


def test_a_campaign_is_given_five_minutes_past_its_end(make_campaign, fake_bus, settings):
    late = _running_past_end(make_campaign, past=timedelta(minutes=6))
    within = _running_past_end(make_campaign, past=timedelta(minutes=4))
    run = procedure_run("campaigns.complete_overdue")
    assert run.changed["ids"] == [late.pk] and run.changed["grace_seconds"] == 300
    assert Campaign.objects.get(pk=within.pk).status == "RUNNING"
    settings.FAULTLINE = {**settings.FAULTLINE, "RECOVERY_CAMPAIGN_END_GRACE_SECONDS": 0}
    assert procedure_run("campaigns.complete_overdue").changed["ids"] == [within.pk]


def test_an_end_timer_waiting_for_its_retry_holds_the_campaign_unless_switched_off(
    make_campaign, fake_bus, settings
):
    retrying = _running_past_end(make_campaign, "FAILED",
                                 next_retry_at=timezone.now() + timedelta(minutes=1))
    assert procedure_run("campaigns.complete_overdue").changed["ids"] == []
    settings.FAULTLINE = {**settings.FAULTLINE, "RECOVERY_CAMPAIGN_WAIT_FOR_END_RETRY": False}
    assert procedure_run("campaigns.complete_overdue").changed["ids"] == [retrying.pk]
    assert Campaign.objects.get(pk=retrying.pk).status == "COMPLETED"
