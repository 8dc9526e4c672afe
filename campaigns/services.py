"""The campaign lifecycle: scheduling, the timer processor, lifecycle events and the outbox.

Timers. `timers_claim_due()` takes due PENDING timers with `SELECT … FOR UPDATE SKIP
LOCKED` (PostgreSQL) and marks them RUNNING with `updated_at = now` in the same
transaction, then commits: from then on the timer belongs to that worker, so two
processors never run one timer. `timer_execute()` runs it under
`resilience.guard("timer.execute", …)`: in one transaction it locks the campaign, applies
the lifecycle transition (campaigns/lifecycle.py), writes the lifecycle event to the
outbox and marks the timer COMPLETED. A failure goes through the guard (recorded,
classified, the `timer.execute` fallback marks the timer FAILED with a retry time), and
recovery (campaigns/procedures.py) retries it or dead-letters it at the limit.

Events. A lifecycle event is always written as an OutboxEvent row in the transaction that
changes the campaign's status, so the change and its announcement commit together. After
the commit, `outbox_publish()` tries the bus under `resilience.guard("event.publish", …)`
and marks the row PUBLISHED; if the bus is down the guard records the failure and the row
stays PENDING for the republisher (`outbox_republish`, a recovery procedure). The
`event.publish` fallback is told the row already exists (`outbox_event_id`) and keeps it
rather than writing a second one. Delivery is at least once; the stream entry carries the
row id as `event_id` for consumers to deduplicate on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from campaigns import events, lifecycle
from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from resilience import conf
from resilience.handling.guard import CircuitOpenError, guard

log = logging.getLogger(__name__)

TimerStatus = CampaignTimer.Status
# The seed's messages (AutoRecoveryManager.recoverFailedTimers, fallbackTimerExecution).
STUCK_TIMER_MESSAGE = "Timer stuck in RUNNING state - recovered"
TIMER_FALLBACK_MESSAGE = "Execution failed, scheduled for retry"
# The seed's recoverStuckCampaigns, as the completion's reason.
STUCK_CAMPAIGN_REASON = "campaign_stuck_past_end_time"
DEAD_LETTERED_PREFIX = "[dead-lettered] "
_ERROR_MAX = 2000


class CampaignError(Exception):
    """A campaign operation that cannot be done as asked (shown to the operator)."""


def _skip_locked() -> bool:
    return connection.features.has_select_for_update_skip_locked


# --- lifecycle events and the outbox ------------------------------------------------------


def lifecycle_event_record(topic: str, payload: dict[str, Any]) -> OutboxEvent:
    """Store a lifecycle event in the caller's transaction; publish it after the commit."""
    event = OutboxEvent.objects.create(topic=topic, payload=payload)
    transaction.on_commit(lambda: outbox_publish(event.pk), robust=True)
    return event


def _campaign_payload(campaign: Campaign, *, previous: str, trigger: str,
                      timer: CampaignTimer | None, now: datetime,
                      reason: str | None = None) -> dict[str, Any]:
    # The seed's event is {campaignId, trigger, timestamp}: campaign_id, trigger, at here.
    return {
        "campaign_id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "previous_status": previous,
        "at": now.isoformat(),
        "trigger": trigger,
        "reason": reason,
        "timer_id": timer.pk if timer else None,
    }


@dataclass
class Published:
    outcome: str  # "published", "failed", "refused" (the circuit is open: not an attempt)
    error: str = ""
    given_up: bool = False  # failed, and FAILED now (RECOVERY_OUTBOX_MAX_ATTEMPTS)

    @property
    def ok(self) -> bool:
        return self.outcome == "published"


def _publish_locked(event: OutboxEvent, *, may_give_up: bool) -> Published:
    """Publish one outbox row the caller holds locked; record the outcome on the row.

    Only the republisher (`may_give_up`) turns a row FAILED at RECOVERY_OUTBOX_MAX_ATTEMPTS:
    every event gets at least one republish, as in the seed's recoverEventQueue.
    """
    failure: BaseException | None = None
    try:
        with guard("event.publish", topic=event.topic, payload=event.payload,
                   outbox_event_id=event.pk, attempt_count=event.attempts):
            try:
                events.event_publish(event.topic, event.payload, event_id=event.pk,
                                     occurred_at=event.created_at.isoformat())
            except Exception as exc:
                failure = exc
                raise
    except CircuitOpenError as exc:
        # Nothing was tried, so no attempt is counted; the error still marks the row as
        # held up, so newer events queue behind it (outbox_publish).
        error = f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
        OutboxEvent.objects.filter(pk=event.pk).update(last_error=error)
        return Published("refused", error)
    except Exception as exc:  # noqa: BLE001 - recorded by the guard; the row keeps it
        failure = failure or exc
    now = timezone.now()
    if failure is None:
        OutboxEvent.objects.filter(pk=event.pk).update(
            status=OutboxEvent.Status.PUBLISHED, published_at=now,
            attempts=F("attempts") + 1, last_error="",
        )
        return Published("published")
    error = f"{type(failure).__name__}: {failure}"[:_ERROR_MAX]
    attempts = event.attempts + 1
    give_up = may_give_up and attempts >= conf.get("RECOVERY_OUTBOX_MAX_ATTEMPTS")
    OutboxEvent.objects.filter(pk=event.pk).update(
        attempts=attempts, last_error=error,
        status=OutboxEvent.Status.FAILED if give_up else OutboxEvent.Status.PENDING,
    )
    return Published("failed", error, given_up=give_up)


def outbox_publish(event_id: int) -> str:
    """Publish one stored event now, if it is still PENDING and nothing older waits.

    Returns "published", "failed", "no_bus", "queued" (older events are waiting: the
    republisher sends them in order) or "skipped" (published already, or someone else
    holds it). Never raises: it runs after a commit, where nobody could catch it.
    """
    if not events.is_configured():
        return "no_bus"
    try:
        with transaction.atomic():
            # Older events that already failed (or were refused) wait for the republisher:
            # go after them. (Older rows never tried yet are other workers' events in flight.)
            if OutboxEvent.objects.filter(
                Q(attempts__gt=0) | ~Q(last_error=""),
                status=OutboxEvent.Status.PENDING, id__lt=event_id,
            ).exists():
                return "queued"
            qs = OutboxEvent.objects.filter(pk=event_id, status=OutboxEvent.Status.PENDING)
            event = qs.select_for_update(skip_locked=_skip_locked()).first()
            if event is None:
                return "skipped"
            return "published" if _publish_locked(event, may_give_up=False).ok else "failed"
    except Exception:
        log.exception("publishing outbox event %s failed", event_id)
        return "failed"


@dataclass
class RepublishResult:
    # "done", "stopped" (a failure, in order), "busy", "no_bus", "circuit_open"
    outcome: str
    published: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # tried and not published this run
    given_up: list[int] = field(default_factory=list)  # of those, FAILED now
    failed_id: int | None = None  # where an in-order run stopped
    error: str = ""
    pending: int = 0


def outbox_republish(*, limit: int | None = None) -> RepublishResult:
    """Republish PENDING outbox events in id order, at most RECOVERY_OUTBOX_BATCH_SIZE
    (the seed's recoverEventQueue: 100 per run).

    The seed's statuses are the row's: pending_republish = PENDING, republished =
    PUBLISHED, failed = FAILED (after RECOVERY_OUTBOX_MAX_ATTEMPTS). With
    RECOVERY_OUTBOX_KEEP_ORDER (the default) the run stops at the first failure, so no
    event reaches the bus before an older one; without it a failed event is passed over
    and the next one tried, as in the seed.
    """
    from resilience.circuits.services import circuit_view

    limit = limit or conf.get("RECOVERY_OUTBOX_BATCH_SIZE")
    keep_order = conf.get("RECOVERY_OUTBOX_KEEP_ORDER")
    pending = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING)
    if not events.is_configured():
        return RepublishResult("no_bus", pending=pending.count())
    if circuit_view(operation="event.publish").is_open:
        return RepublishResult("circuit_open", pending=pending.count())
    result = RepublishResult("done")
    after = 0  # passing over: each event is tried at most once a run
    for _ in range(limit):
        with transaction.atomic():
            head = (pending.filter(id__gt=after).order_by("id")
                    .values_list("id", flat=True).first())
            if head is None:
                break
            after = head
            event = (OutboxEvent.objects.filter(pk=head, status=OutboxEvent.Status.PENDING)
                     .select_for_update(skip_locked=_skip_locked()).first())
            if event is None:  # someone is publishing it right now
                if keep_order:
                    result.outcome = "busy"
                    break
                continue
            published = _publish_locked(event, may_give_up=True)
        if published.outcome == "refused":  # the circuit opened during the run
            result.outcome = "circuit_open"
            break
        if not published.ok:
            result.failed.append(event.pk)
            result.error = published.error
            if published.given_up:
                result.given_up.append(event.pk)
            if keep_order:
                result.outcome, result.failed_id = "stopped", event.pk
                break
            continue
        result.published.append(event.pk)
    result.pending = pending.count()
    return result


# --- scheduling ----------------------------------------------------------------------------


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


# --- the timer processor --------------------------------------------------------------------


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
            .select_for_update(skip_locked=_skip_locked())
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
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    retry_at = (None if isinstance(error, lifecycle.IllegalTransition)
                else now + timedelta(seconds=conf.get("TIMER_FALLBACK_RETRY_DELAY_SECONDS")))
    return CampaignTimer.objects.filter(pk=timer_id).update(
        status=TimerStatus.FAILED, retry_count=F("retry_count") + 1, next_retry_at=retry_at,
        error_message=text[:_ERROR_MAX], updated_at=now,
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
            _campaign_payload(campaign, previous=previous, trigger="timer", timer=timer,
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


# --- recovery: timers and campaigns ----------------------------------------------------------


def timers_reclaim_stuck(*, now: datetime | None = None) -> list[int]:
    """Timers RUNNING for longer than RECOVERY_TIMER_STUCK_SECONDS (their worker died):
    FAILED, one more failure counted, retried after RECOVERY_TIMER_RETRY_DELAY_SECONDS."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=conf.get("RECOVERY_TIMER_STUCK_SECONDS"))
    retry_at = now + timedelta(seconds=conf.get("RECOVERY_TIMER_RETRY_DELAY_SECONDS"))
    with transaction.atomic():
        ids = list(
            CampaignTimer.objects.filter(status=TimerStatus.RUNNING, updated_at__lt=stale)
            .select_for_update(skip_locked=_skip_locked())
            .values_list("id", flat=True)
        )
        CampaignTimer.objects.filter(id__in=ids).update(
            status=TimerStatus.FAILED, retry_count=F("retry_count") + 1, next_retry_at=retry_at,
            error_message=STUCK_TIMER_MESSAGE, updated_at=now,
        )
    return ids


def _guard_service_id() -> int:
    from resilience.handling.guard import GUARD_SERVICE_SLUG
    from resilience.models import Service

    service, _ = Service.objects.get_or_create(
        slug=GUARD_SERVICE_SLUG,
        defaults={"name": "Faultline (in-process)", "description": "Errors caught by guard()"},
    )
    return service.pk


@dataclass
class RetryResult:
    retried: list[int] = field(default_factory=list)
    dead_lettered: list[int] = field(default_factory=list)
    dead_letter_ids: list[int] = field(default_factory=list)


def timers_retry_failed(*, now: datetime | None = None) -> RetryResult:
    """FAILED timers whose retry time has come: PENDING again while retry_count (failures
    so far) is at most RECOVERY_TIMER_MAX_RETRIES; past it, dead-lettered once (operation
    "timer.execute") and left FAILED with no retry time and a "[dead-lettered]" prefix."""
    from resilience.dead_letters.services import dead_letter_create

    now = now or timezone.now()
    max_retries = conf.get("RECOVERY_TIMER_MAX_RETRIES")
    result = RetryResult()
    with transaction.atomic():
        due = list(
            CampaignTimer.objects.filter(status=TimerStatus.FAILED, next_retry_at__lte=now)
            .select_for_update(skip_locked=_skip_locked())
            .order_by("id")
        )
        for timer in due:
            if timer.retry_count <= max_retries:
                result.retried.append(timer.pk)
                continue
            letter = dead_letter_create(
                service_id=_guard_service_id(),
                operation="timer.execute",
                payload={"timer_id": timer.pk, "campaign_id": timer.campaign_id,
                         "type": timer.type},
                reason=(f"timer failed {timer.retry_count} times; last error: "
                        f"{timer.error_message}")[:_ERROR_MAX],
                attempt_count=timer.retry_count,
            )
            CampaignTimer.objects.filter(pk=timer.pk).update(
                next_retry_at=None, updated_at=now,
                error_message=(DEAD_LETTERED_PREFIX + timer.error_message)[:_ERROR_MAX],
            )
            result.dead_lettered.append(timer.pk)
            result.dead_letter_ids.append(letter.pk)
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


def campaigns_complete_overdue(*, now: datetime | None = None,
                               limit: int = 500) -> list[int]:
    """RUNNING campaigns more than RECOVERY_CAMPAIGN_END_GRACE_SECONDS past their end time
    whose end timer will not do it (none PENDING or RUNNING, and, with
    RECOVERY_CAMPAIGN_WAIT_FOR_END_RETRY, none FAILED with a retry still to come):
    COMPLETED, with a `lifecycle.campaign.completed` event whose trigger is
    "auto_recovery" and reason "campaign_stuck_past_end_time" (the seed's
    recoverStuckCampaigns)."""
    now = now or timezone.now()
    to_come = Q(status__in=[TimerStatus.PENDING, TimerStatus.RUNNING])
    if conf.get("RECOVERY_CAMPAIGN_WAIT_FOR_END_RETRY"):
        # Completing it now would make that retry fail as an illegal transition.
        to_come |= Q(status=TimerStatus.FAILED, next_retry_at__isnull=False)
    end_timer_active = CampaignTimer.objects.filter(
        to_come, campaign_id=OuterRef("pk"), type=CampaignTimer.Type.END,
    )
    cut = now - timedelta(seconds=conf.get("RECOVERY_CAMPAIGN_END_GRACE_SECONDS"))
    candidates = list(
        Campaign.objects.filter(status=Campaign.Status.RUNNING, end_time__lt=cut)
        .exclude(Exists(end_timer_active)).order_by("id").values_list("id", flat=True)[:limit]
    )
    completed = []
    for campaign_id in candidates:
        with transaction.atomic():
            campaign = (Campaign.objects.select_for_update(skip_locked=_skip_locked())
                        .filter(pk=campaign_id, status=Campaign.Status.RUNNING).first())
            if campaign is None:
                continue
            previous = campaign.status
            campaign.status = lifecycle.transition(previous, "end")
            campaign.save(update_fields=["status", "updated_at"])
            lifecycle_event_record(
                lifecycle.TRIGGER_TOPICS["end"],
                _campaign_payload(campaign, previous=previous, trigger="auto_recovery",
                                  timer=None, now=now, reason=STUCK_CAMPAIGN_REASON),
            )
            completed.append(campaign_id)
    return completed


# --- the campaign.update fallback ------------------------------------------------------------


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
        _campaign_payload(campaign, previous=previous, trigger="fallback", timer=None, now=now),
    )
    return campaign
