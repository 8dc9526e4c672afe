"""Moves of a campaign's status outside its timers: an operator scheduling it, the
`campaign.update` fallback, and recovery completing a campaign stuck past its end. Each
goes through the lifecycle (campaigns/lifecycle.py) and writes its lifecycle event with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from campaigns import lifecycle
from campaigns.errors import CampaignError
from campaigns.locking import skip_locked
from campaigns.models import Campaign, CampaignTimer
from campaigns.outbox import campaign_event_payload, lifecycle_event_record
from resilience import conf

TimerStatus = CampaignTimer.Status
# The seed's recoverStuckCampaigns, as the completion's reason.
STUCK_CAMPAIGN_REASON = "campaign_stuck_past_end_time"


@transaction.atomic
def campaign_schedule(*, campaign: Campaign) -> Campaign:
    """DRAFT → SCHEDULED, with its start and end timers."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not lifecycle.is_allowed(campaign.status, "schedule"):
        raise CampaignError(str(lifecycle.IllegalTransition(campaign.status, "schedule")))
    if campaign.start_time is None or campaign.end_time is None:
        raise CampaignError("a campaign needs a start time and an end time to be scheduled")
    if campaign.end_time <= campaign.start_time:
        raise CampaignError("the end time must be after the start time")
    campaign.status = lifecycle.transition(campaign.status, "schedule")
    campaign.save(update_fields=["status", "updated_at"])
    CampaignTimer.objects.bulk_create([
        CampaignTimer(campaign=campaign, type=CampaignTimer.Type.START,
                      scheduled_at=campaign.start_time),
        CampaignTimer(campaign=campaign, type=CampaignTimer.Type.END,
                      scheduled_at=campaign.end_time),
    ])
    return campaign


@transaction.atomic
def campaign_update_essentials(*, campaign_id: int, status: str | None = None,
                               now: datetime | None = None) -> Campaign:
    """The seed's simplified campaign update: only the status (and the last-updated time).

    Unlike the seed's blind write, the status still moves only through the lifecycle, with
    its lifecycle event (trigger "fallback"): a move the lifecycle forbids raises
    IllegalTransition, and the fallback reports that it did not succeed.
    """
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    if status is None or status == campaign.status:
        Campaign.objects.filter(pk=campaign.pk).update(updated_at=now)
        return campaign
    trigger = lifecycle.trigger_to(campaign.status, status)
    if trigger == "schedule":
        return campaign_schedule(campaign=campaign)  # the timers come with it
    previous = campaign.status
    campaign.status = status
    campaign.save(update_fields=["status", "updated_at"])
    lifecycle_event_record(
        lifecycle.TRIGGER_TOPICS[trigger],
        campaign_event_payload(campaign, previous=previous, trigger="fallback", timer=None,
                               now=now),
    )
    return campaign


# --- recovery: campaigns stuck past their end ----------------------------------------------


def _overdue_campaign_ids(*, now: datetime, limit: int) -> list[int]:
    """RUNNING campaigns past their end and its grace whose end timer will not end them."""
    to_come = Q(status__in=[TimerStatus.PENDING, TimerStatus.RUNNING])
    if conf.get("RECOVERY_CAMPAIGN_WAIT_FOR_END_RETRY"):
        # Completing it now would make that retry fail as an illegal transition.
        to_come |= Q(status=TimerStatus.FAILED, next_retry_at__isnull=False)
    end_timer_active = CampaignTimer.objects.filter(
        to_come, campaign_id=OuterRef("pk"), type=CampaignTimer.Type.END,
    )
    cut = now - timedelta(seconds=conf.get("RECOVERY_CAMPAIGN_END_GRACE_SECONDS"))
    return list(
        Campaign.objects.filter(status=Campaign.Status.RUNNING, end_time__lt=cut)
        .exclude(Exists(end_timer_active)).order_by("id").values_list("id", flat=True)[:limit]
    )


@transaction.atomic
def _complete_stuck(campaign_id: int, *, now: datetime) -> bool:
    """COMPLETED by recovery, with its event; False when it is no longer RUNNING (or
    another process holds it)."""
    campaign = (Campaign.objects.select_for_update(skip_locked=skip_locked())
                .filter(pk=campaign_id, status=Campaign.Status.RUNNING).first())
    if campaign is None:
        return False
    previous = campaign.status
    campaign.status = lifecycle.transition(previous, "end")
    campaign.save(update_fields=["status", "updated_at"])
    lifecycle_event_record(
        lifecycle.TRIGGER_TOPICS["end"],
        campaign_event_payload(campaign, previous=previous, trigger="auto_recovery",
                               timer=None, now=now, reason=STUCK_CAMPAIGN_REASON),
    )
    return True


def campaigns_complete_overdue(*, now: datetime | None = None,
                               limit: int = 500) -> list[int]:
    """RUNNING campaigns more than RECOVERY_CAMPAIGN_END_GRACE_SECONDS past their end time
    whose end timer will not do it (none PENDING or RUNNING, and, with
    RECOVERY_CAMPAIGN_WAIT_FOR_END_RETRY, none FAILED with a retry still to come):
    COMPLETED, with a `lifecycle.campaign.completed` event whose trigger is
    "auto_recovery" and reason "campaign_stuck_past_end_time" (the seed's
    recoverStuckCampaigns)."""
    now = now or timezone.now()
    candidates = _overdue_campaign_ids(now=now, limit=limit)
    return [campaign_id for campaign_id in candidates if _complete_stuck(campaign_id, now=now)]
