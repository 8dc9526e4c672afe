"""Recovery of campaign timers (run by campaigns/procedures.py): timers whose worker died,
FAILED timers due for a retry or past the retry limit, and an operator's replay."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns.errors import ERROR_MAX
from campaigns.locking import skip_locked
from campaigns.models import CampaignTimer
from resilience import conf
from resilience.handling.guard import guard_service_id

TimerStatus = CampaignTimer.Status
# The seed's message (AutoRecoveryManager.recoverFailedTimers).
STUCK_TIMER_MESSAGE = "Timer stuck in RUNNING state - recovered"
DEAD_LETTERED_PREFIX = "[dead-lettered] "


def timers_reclaim_stuck(*, now: datetime | None = None) -> list[int]:
    """Timers RUNNING for longer than RECOVERY_TIMER_STUCK_SECONDS (their worker died):
    FAILED, one more failure counted, retried after RECOVERY_TIMER_RETRY_DELAY_SECONDS."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=conf.get("RECOVERY_TIMER_STUCK_SECONDS"))
    retry_at = now + timedelta(seconds=conf.get("RECOVERY_TIMER_RETRY_DELAY_SECONDS"))
    with transaction.atomic():
        ids = list(
            CampaignTimer.objects.filter(status=TimerStatus.RUNNING, updated_at__lt=stale)
            .select_for_update(skip_locked=skip_locked())
            .values_list("id", flat=True)
        )
        CampaignTimer.objects.filter(id__in=ids).update(
            status=TimerStatus.FAILED, retry_count=F("retry_count") + 1, next_retry_at=retry_at,
            error_message=STUCK_TIMER_MESSAGE, updated_at=now,
        )
    return ids


@dataclass
class RetryResult:
    retried: list[int] = field(default_factory=list)
    dead_lettered: list[int] = field(default_factory=list)
    dead_letter_ids: list[int] = field(default_factory=list)


def _dead_letter_timer(timer: CampaignTimer, *, now: datetime) -> int:
    """Dead-letter a timer past its retries (operation "timer.execute", replayable through
    campaigns.tasks.timer_replay) and leave it FAILED with no retry time; the letter's id."""
    from resilience.dead_letters.services import dead_letter_create

    letter = dead_letter_create(
        service_id=guard_service_id(),
        operation="timer.execute",
        payload={"timer_id": timer.pk, "campaign_id": timer.campaign_id, "type": timer.type},
        reason=(f"timer failed {timer.retry_count} times; last error: "
                f"{timer.error_message}")[:ERROR_MAX],
        attempt_count=timer.retry_count,
    )
    CampaignTimer.objects.filter(pk=timer.pk).update(
        next_retry_at=None, updated_at=now,
        error_message=(DEAD_LETTERED_PREFIX + timer.error_message)[:ERROR_MAX],
    )
    return letter.pk


def timers_retry_failed(*, now: datetime | None = None) -> RetryResult:
    """FAILED timers whose retry time has come: PENDING again while retry_count (failures
    so far) is at most RECOVERY_TIMER_MAX_RETRIES; past it, dead-lettered once (operation
    "timer.execute") and left FAILED with no retry time and a "[dead-lettered]" prefix."""
    now = now or timezone.now()
    max_retries = conf.get("RECOVERY_TIMER_MAX_RETRIES")
    result = RetryResult()
    with transaction.atomic():
        due = list(
            CampaignTimer.objects.filter(status=TimerStatus.FAILED, next_retry_at__lte=now)
            .select_for_update(skip_locked=skip_locked())
            .order_by("id")
        )
        for timer in due:
            if timer.retry_count <= max_retries:
                result.retried.append(timer.pk)
                continue
            result.dead_letter_ids.append(_dead_letter_timer(timer, now=now))
            result.dead_lettered.append(timer.pk)
        CampaignTimer.objects.filter(id__in=result.retried).update(
            status=TimerStatus.PENDING, next_retry_at=None, updated_at=now
        )
    return result


def timer_requeue(*, timer_id: int) -> bool:
    """An operator replayed a dead-lettered timer: PENDING again with a fresh retry count."""
    return bool(CampaignTimer.objects.filter(
        pk=timer_id, status=TimerStatus.FAILED
    ).update(status=TimerStatus.PENDING, retry_count=0, next_retry_at=None,
             updated_at=timezone.now()))
