"""Lifecycle events and the outbox.

A lifecycle event is always written as an OutboxEvent row in the transaction that changes
the campaign's status, so the change and its announcement commit together. After the
commit, `outbox_publish()` tries the bus under `resilience.guard("event.publish", …)` and
marks the row PUBLISHED; if the bus is down the guard records the failure and the row stays
PENDING for the republisher (`outbox_republish`, a recovery procedure). The `event.publish`
fallback is told the row already exists (`outbox_event_id`) and keeps it rather than
writing a second one. Delivery is at least once; the stream entry carries the row id as
`event_id` for consumers to deduplicate on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from campaigns import events
from campaigns.errors import error_text
from campaigns.locking import skip_locked
from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from resilience import conf
from resilience.handling.guard import CircuitOpenError, guard

log = logging.getLogger(__name__)


def lifecycle_event_record(topic: str, payload: dict[str, Any]) -> OutboxEvent:
    """Store a lifecycle event in the caller's transaction; publish it after the commit."""
    event = OutboxEvent.objects.create(topic=topic, payload=payload)
    transaction.on_commit(lambda: outbox_publish(event.pk), robust=True)
    return event


def campaign_event_payload(campaign: Campaign, *, previous: str, trigger: str,
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


# --- publishing one row -------------------------------------------------------------------


@dataclass
class Published:
    outcome: str  # "published", "failed", "refused" (the circuit is open: not an attempt)
    error: str = ""
    given_up: bool = False  # failed, and FAILED now (RECOVERY_OUTBOX_MAX_ATTEMPTS)

    @property
    def ok(self) -> bool:
        return self.outcome == "published"


def _publish_guarded(event: OutboxEvent) -> BaseException | None:
    """Send the row to the bus under the guard: None when it was published, else the
    failure (the bus's own error rather than what the guard raised after it). Raises
    CircuitOpenError when the circuit refused the call."""
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
    except CircuitOpenError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded by the guard; the row keeps it
        failure = failure or exc
    return failure


def _record_refused(event: OutboxEvent, refusal: CircuitOpenError) -> Published:
    # Nothing was tried, so no attempt is counted; the error still marks the row as held
    # up, so newer events queue behind it (outbox_publish).
    error = error_text(refusal)
    OutboxEvent.objects.filter(pk=event.pk).update(last_error=error)
    return Published("refused", error)


def _record_published(event: OutboxEvent) -> Published:
    OutboxEvent.objects.filter(pk=event.pk).update(
        status=OutboxEvent.Status.PUBLISHED, published_at=timezone.now(),
        attempts=F("attempts") + 1, last_error="",
    )
    return Published("published")


def _record_failed(event: OutboxEvent, failure: BaseException, *,
                   may_give_up: bool) -> Published:
    error = error_text(failure)
    attempts = event.attempts + 1
    give_up = may_give_up and attempts >= conf.get("RECOVERY_OUTBOX_MAX_ATTEMPTS")
    OutboxEvent.objects.filter(pk=event.pk).update(
        attempts=attempts, last_error=error,
        status=OutboxEvent.Status.FAILED if give_up else OutboxEvent.Status.PENDING,
    )
    return Published("failed", error, given_up=give_up)


def _publish_locked(event: OutboxEvent, *, may_give_up: bool) -> Published:
    """Publish one outbox row the caller holds locked; record the outcome on the row.

    Only the republisher (`may_give_up`) turns a row FAILED at RECOVERY_OUTBOX_MAX_ATTEMPTS:
    every event gets at least one republish, as in the seed's recoverEventQueue.
    """
    try:
        failure = _publish_guarded(event)
    except CircuitOpenError as refusal:
        return _record_refused(event, refusal)
    if failure is None:
        return _record_published(event)
    return _record_failed(event, failure, may_give_up=may_give_up)


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
            event = qs.select_for_update(skip_locked=skip_locked()).first()
            if event is None:
                return "skipped"
            return "published" if _publish_locked(event, may_give_up=False).ok else "failed"
    except Exception:
        log.exception("publishing outbox event %s failed", event_id)
        return "failed"


# --- the republisher ----------------------------------------------------------------------


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

    def note(self, event_id: int, published: Published | None, *, keep_order: bool) -> bool:
        """Count one event's turn (None: another process holds it); False when the run
        stops here."""
        if published is None:
            if keep_order:
                self.outcome = "busy"
                return False
            return True
        if published.outcome == "refused":  # the circuit opened during the run
            self.outcome = "circuit_open"
            return False
        if published.ok:
            self.published.append(event_id)
            return True
        self.failed.append(event_id)
        self.error = published.error
        if published.given_up:
            self.given_up.append(event_id)
        if keep_order:
            self.outcome, self.failed_id = "stopped", event_id
            return False
        return True


def _republish_unavailable(pending: QuerySet[OutboxEvent]) -> RepublishResult | None:
    """Why no event can be sent this run (no bus, or its circuit open), or None."""
    from resilience.circuits.services import circuit_view

    if not events.is_configured():
        return RepublishResult("no_bus", pending=pending.count())
    if circuit_view(operation="event.publish").is_open:
        return RepublishResult("circuit_open", pending=pending.count())
    return None


def _republish_next(pending: QuerySet[OutboxEvent], *, after: int
                    ) -> tuple[int, Published | None] | None:
    """Publish the oldest PENDING event past `after`: its id and how it went (None when
    another process holds it), or None when no event is left."""
    with transaction.atomic():
        head = (pending.filter(id__gt=after).order_by("id")
                .values_list("id", flat=True).first())
        if head is None:
            return None
        event = (OutboxEvent.objects.filter(pk=head, status=OutboxEvent.Status.PENDING)
                 .select_for_update(skip_locked=skip_locked()).first())
        if event is None:  # someone is publishing it right now
            return head, None
        return head, _publish_locked(event, may_give_up=True)


def outbox_republish(*, limit: int | None = None) -> RepublishResult:
    """Republish PENDING outbox events in id order, at most RECOVERY_OUTBOX_BATCH_SIZE
    (the seed's recoverEventQueue: 100 per run).

    The seed's statuses are the row's: pending_republish = PENDING, republished =
    PUBLISHED, failed = FAILED (after RECOVERY_OUTBOX_MAX_ATTEMPTS). With
    RECOVERY_OUTBOX_KEEP_ORDER (the default) the run stops at the first failure, so no
    event reaches the bus before an older one; without it a failed event is passed over
    and the next one tried, as in the seed.
    """
    limit = limit or conf.get("RECOVERY_OUTBOX_BATCH_SIZE")
    keep_order = conf.get("RECOVERY_OUTBOX_KEEP_ORDER")
    pending = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING)
    unavailable = _republish_unavailable(pending)
    if unavailable is not None:
        return unavailable
    result = RepublishResult("done")
    after = 0  # passing over: each event is tried at most once a run
    for _ in range(limit):
        turn = _republish_next(pending, after=after)
        if turn is None:
            break
        after, published = turn
        if not result.note(after, published, keep_order=keep_order):
            break
    result.pending = pending.count()
    return result
