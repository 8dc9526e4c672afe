"""The timer processor: claim due timers, run each once.

`timers_claim_due()` takes due PENDING timers with `SELECT … FOR UPDATE SKIP LOCKED`
(PostgreSQL) and marks them RUNNING with `updated_at = now` in the same transaction, then
commits: from then on the timer belongs to that worker, so two processors never run one
timer. `timer_execute()` runs it under `resilience.guard("timer.execute", …)`: in one
transaction it locks the campaign, applies the lifecycle transition
(campaigns/lifecycle.py), writes the lifecycle event to the outbox (campaigns/outbox.py)
and marks the timer COMPLETED. A failure goes through the guard (recorded, classified, the
`timer.execute` fallback marks the timer FAILED with a retry time), and recovery
(campaigns/timer_recovery.py, run by campaigns/procedures.py) retries it or dead-letters it
at the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns import lifecycle
from campaigns.errors import ERROR_MAX, error_text
from campaigns.locking import skip_locked
from campaigns.models import Campaign, CampaignTimer
from campaigns.outbox import campaign_event_payload, lifecycle_event_record
from resilience import conf
from resilience.handling.guard import CircuitOpenError, guard

TimerStatus = CampaignTimer.Status
# The seed's message (fallbackTimerExecution).
TIMER_FALLBACK_MESSAGE = "Execution failed, scheduled for retry"


def timers_claim_due(*, now: datetime | None = None, limit: int | None = None,
                     overdue_seconds: float = 0) -> list[int]:
    """Claim PENDING timers due at least `overdue_seconds` ago: RUNNING, committed."""
    now = now or timezone.now()
    limit = limit or conf.get("TIMER_PROCESSOR_BATCH_SIZE")
    with transaction.atomic():
        ids = list(
            CampaignTimer.objects.filter(
                status=TimerStatus.PENDING,
                scheduled_at__lte=now - timedelta(seconds=overdue_seconds),
            )
            .order_by("scheduled_at", "id")
            .select_for_update(skip_locked=skip_locked())
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            CampaignTimer.objects.filter(id__in=ids, status=TimerStatus.PENDING).update(
                status=TimerStatus.RUNNING, updated_at=now
            )
    return ids


def timer_mark_failed(timer_id: int, error: BaseException | str, *,
                      now: datetime | None = None) -> int:
    """FAILED, one more failure counted, retried after TIMER_FALLBACK_RETRY_DELAY_SECONDS,
    except for an illegal transition (it would be just as illegal later: no retry time, so
    recovery leaves it alone). For failures no fallback took; see campaigns/fallbacks.py."""
    now = now or timezone.now()
    text = error[:ERROR_MAX] if isinstance(error, str) else error_text(error)
    retry_at = (None if isinstance(error, lifecycle.IllegalTransition)
                else now + timedelta(seconds=conf.get("TIMER_FALLBACK_RETRY_DELAY_SECONDS")))
    return CampaignTimer.objects.filter(pk=timer_id).update(
        status=TimerStatus.FAILED, retry_count=F("retry_count") + 1, next_retry_at=retry_at,
        error_message=text, updated_at=now,
    )


def _apply_timer(timer_id: int, *, now: datetime) -> bool:
    """The timer's effect, in one transaction. False when it is no longer ours to run."""
    with transaction.atomic():
        timer = CampaignTimer.objects.select_for_update().filter(pk=timer_id).first()
        if timer is None or timer.status != TimerStatus.RUNNING:
            return False
        campaign = Campaign.objects.select_for_update().get(pk=timer.campaign_id)
        trigger = lifecycle.TIMER_TRIGGERS[timer.type]
        previous = campaign.status
        campaign.status = lifecycle.transition(previous, trigger)  # IllegalTransition
        campaign.save(update_fields=["status", "updated_at"])
        lifecycle_event_record(
            lifecycle.TRIGGER_TOPICS[trigger],
            campaign_event_payload(campaign, previous=previous, trigger="timer", timer=timer,
                                   now=now),
        )
        CampaignTimer.objects.filter(pk=timer.pk).update(
            status=TimerStatus.COMPLETED, executed_at=now, error_message="",
            next_retry_at=None, updated_at=now,
        )
    return True


def timer_execute(timer_id: int) -> str:
    """Run one claimed (RUNNING) timer. The processor and recovery both come here.

    Returns "completed", "failed" (the timer is FAILED: the `timer.execute` fallback, or
    timer_mark_failed), "deferred" (the `timer.execute` circuit is open: back to PENDING,
    not counted as a failure) or "skipped" (not RUNNING any more: someone else settled it).
    """
    timer = CampaignTimer.objects.filter(pk=timer_id).values("campaign_id",
                                                             "retry_count").first()
    if timer is None:
        return "skipped"
    try:
        # attempt_count: the failures so far, so the seed's decision (retries left?) and
        # its fallback (retryCount = attemptCount + 1) see this timer's history.
        with guard("timer.execute", timer_id=timer_id, campaign_id=timer["campaign_id"],
                   attempt_count=timer["retry_count"]) as g:
            applied = _apply_timer(timer_id, now=timezone.now())
    except CircuitOpenError:
        CampaignTimer.objects.filter(pk=timer_id, status=TimerStatus.RUNNING).update(
            status=TimerStatus.PENDING, updated_at=timezone.now()
        )
        return "deferred"
    except Exception as exc:  # noqa: BLE001 - recorded by the guard; no fallback took it
        # (a RETRY or DEAD_LETTER decision, or an escalation): the timer must not stay
        # RUNNING until the stuck-timer sweep, so settle it here.
        timer_mark_failed(timer_id, exc)
        return "failed"
    if g.result is not None:  # the timer.execute fallback marked it FAILED
        return "failed"
    return "completed" if applied else "skipped"


@dataclass
class ProcessResult:
    claimed: list[int] = field(default_factory=list)
    outcomes: dict[str, list[int]] = field(default_factory=dict)
    circuit_open: bool = False

    def add(self, outcome: str, timer_id: int) -> None:
        self.outcomes.setdefault(outcome, []).append(timer_id)


def timers_process_due(*, now: datetime | None = None, limit: int | None = None,
                       overdue_seconds: float = 0) -> ProcessResult:
    """Claim the due timers and run each (the celery-beat task, and recovery's overdue
    sweep with `overdue_seconds`)."""
    from resilience.circuits.services import circuit_view

    result = ProcessResult()
    if circuit_view(operation="timer.execute").is_open:
        result.circuit_open = True  # claim nothing: they would only go back to PENDING
        return result
    result.claimed = timers_claim_due(now=now, limit=limit, overdue_seconds=overdue_seconds)
    for timer_id in result.claimed:
        result.add(timer_execute(timer_id), timer_id)
    return result
