"""Dead-letter replay: ask for it (admin, API, recovery), then run it on Celery in batches.

A request validates the filter, counts what it matches, records one AuditEvent and queues
``resilience.tasks.dead_letter_replay`` on the "replay" queue. Each run of that task takes
a bounded batch in id order and, for each dead letter:

1. waits for a slot at the target's rate (resilience.outbound.pacing, shared through the cache);
2. claims the row with a conditional UPDATE (PENDING/FAILED, REPLAYED only when forced,
   or REPLAYING left behind by a worker that died more than REPLAY_CLAIM_TIMEOUT_SECONDS
   ago): whoever updates the row owns the replay, so two workers never send one letter;
3. writes the DeadLetterAttempt row *before* sending (a crash mid-send leaves a trace);
4. sends it through resilience.outbound.calls (signed webhook, or a Celery task message);
5. finishes the attempt, and moves the same row to REPLAYED or back to FAILED with
   replay_count raised and last_replay_error set.

Then it queues the next run from where it stopped. Every replay carries the dead letter's
``replay_key`` (the ``Idempotency-Key`` header and the envelope) so that a receiver can
drop the duplicate that at-least-once delivery allows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from resilience import conf
from resilience.core import signing
from resilience.core.backoff import BackoffPolicy, backoff_delay_ms
from resilience.dead_letters.services import (
    REPLAY_PERMISSION,
    DeadLetterError,
    audit,
    require_permission,
)
from resilience.models import CATEGORY_CHOICES, DeadLetter, DeadLetterAttempt, ReplayTarget
from resilience.outbound import calls as outbound
from resilience.outbound import pacing

log = logging.getLogger(__name__)

Status = DeadLetter.Status
Outcome = DeadLetterAttempt.Outcome
Kind = ReplayTarget.Kind

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Sent by name (resilience/tasks.py registers it under this name): tasks import this
# module, never the reverse.
REPLAY_TASK = "resilience.tasks.dead_letter_replay"
# Ids per queued task message when a selection is replayed.
IDS_PER_MESSAGE = 1000
# Automatic (via="system") replays back off between attempts; operators' replays do not.
AUTOMATIC_BACKOFF = BackoffPolicy(base_ms=60_000, factor=2.0, cap_ms=6 * 3600_000, jitter=0.1)
_CATEGORIES = {value for value, _ in CATEGORY_CHOICES}
_FILTER_STATUSES = {Status.PENDING, Status.FAILED, Status.REPLAYED, Status.REPLAYING}


# --- which dead letters ---------------------------------------------------------------


def _text(filters: Mapping, name: str, limit: int = 500) -> str | None:
    value = filters.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise DeadLetterError(f"must be a string of at most {limit} characters", field=name)
    return value


_KNOWN_FILTERS = ("ids", "service", "service_id", "operation", "reason", "reason_contains",
                  "category", "status")


def _reject_unknown(filters: Mapping[str, Any]) -> None:
    unknown = set(filters) - set(_KNOWN_FILTERS)
    if unknown:
        raise DeadLetterError(f"unknown filter; use {', '.join(sorted(_KNOWN_FILTERS))}",
                              field=sorted(unknown)[0])


def _ids(filters: Mapping[str, Any]) -> list[int] | None:
    ids = filters.get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    )):
        raise DeadLetterError("must be a list of integers", field="ids")
    return ids


def _service_id(filters: Mapping[str, Any]) -> int | None:
    service_id = filters.get("service_id")
    if service_id is not None and (not isinstance(service_id, int)
                                   or isinstance(service_id, bool)):
        raise DeadLetterError("must be an integer", field="service_id")
    return service_id


def _category(filters: Mapping[str, Any]) -> str | None:
    category = _text(filters, "category", 32)
    if category is not None and category not in _CATEGORIES:
        raise DeadLetterError(f"unknown category {category!r}", field="category")
    return category


def _status(filters: Mapping[str, Any]) -> str | None:
    status = _text(filters, "status", 16)
    if status is not None and status not in _FILTER_STATUSES:
        raise DeadLetterError(
            f"cannot replay {status!r}; use PENDING, FAILED, REPLAYED or REPLAYING",
            field="status",
        )
    return status


def replay_filter_queryset(filters: Mapping[str, Any]) -> QuerySet[DeadLetter]:
    """The dead letters a replay filter names. Filters (all optional, combined with AND):
    ids, service (slug), service_id, operation, reason (exact), reason_contains,
    category, status. Raises DeadLetterError naming a bad field."""
    _reject_unknown(filters)
    # Checked in this order, so the first bad field is the one named.
    lookups = (
        ("id__in", _ids(filters)),
        ("service__slug", _text(filters, "service", 100)),
        ("service_id", _service_id(filters)),
        ("operation", _text(filters, "operation", 200)),
        ("reason", _text(filters, "reason", 100_000)),
        ("reason__icontains", _text(filters, "reason_contains")),
        ("category", _category(filters)),
        ("status", _status(filters)),
    )
    return DeadLetter.objects.filter(**{name: value for name, value in lookups
                                        if value is not None})


def claimable(*, force: bool, now: datetime) -> Q:
    """Rows a replay may take now: waiting ones, settled ones when forced, and abandoned
    REPLAYING rows (their worker stopped before finishing)."""
    stale = now - timedelta(seconds=conf.get("REPLAY_CLAIM_TIMEOUT_SECONDS"))
    condition = Q(status__in=[Status.PENDING, Status.FAILED]) | Q(
        status=Status.REPLAYING, last_replay_at__lt=stale
    )
    if force:
        condition |= Q(status=Status.REPLAYED)
    return condition


def _has_target() -> Exists:
    return Exists(
        ReplayTarget.objects.filter(
            service_id=OuterRef("service_id"), operation=OuterRef("operation"), enabled=True
        )
    )


# --- asking for a replay --------------------------------------------------------------


@dataclass(frozen=True)
class ReplayRequest:
    matched: int  # replayable rows the filter matched
    queued: int  # of those, rows with an enabled target: what the replay will send
    without_target: int


def _enqueue(kwargs: dict[str, Any]) -> None:
    try:
        outbound.send_task(REPLAY_TASK, kwargs=kwargs)
    except Exception as exc:
        log.warning("could not queue a dead-letter replay: %s", exc)
        raise DeadLetterError(f"the replay queue is unavailable ({exc}); try again") from exc


def dead_letter_replay_request(
    *,
    filters: Mapping[str, Any],
    actor,
    via: str = "admin",
    force: bool = False,
    now: datetime | None = None,
) -> ReplayRequest:
    """Queue the replay of every replayable dead letter matching ``filters``."""
    require_permission(actor, REPLAY_PERMISSION)
    filters = dict(filters)
    now = now or timezone.now()
    counts = (
        replay_filter_queryset(filters)
        .filter(claimable(force=force, now=now))
        .aggregate(matched=Count("id"), queued=Count("id", filter=_has_target()))
    )
    request = ReplayRequest(counts["matched"], counts["queued"],
                            counts["matched"] - counts["queued"])
    if not request.queued:
        return request
    audit("dead_letter.replay", actor=actor, via=via,
          target_id=filters["ids"][0] if len(filters.get("ids") or ()) == 1 else "",
          detail={"filters": filters, "force": force, "matched": request.matched,
                  "queued": request.queued, "without_target": request.without_target})
    actor_id = actor.pk if actor is not None else None
    base = {"actor_id": actor_id, "via": via, "force": force, "after_id": 0}
    ids = filters.get("ids")
    if ids and len(ids) > IDS_PER_MESSAGE:
        ids = sorted(set(ids))
        messages = [
            {**base, "filters": {**filters, "ids": ids[i:i + IDS_PER_MESSAGE]}}
            for i in range(0, len(ids), IDS_PER_MESSAGE)
        ]
    else:
        messages = [{**base, "filters": filters}]
    # After commit: a worker must see what this transaction wrote (an edited payload).
    for kwargs in messages:
        transaction.on_commit(lambda kwargs=kwargs: _enqueue(kwargs))
    return request


def dead_letter_replay_one_request(
    *, dead_letter: DeadLetter, actor, via: str = "admin", force: bool = False
) -> ReplayRequest:
    """Queue one dead letter's replay, or say why it cannot be replayed."""
    require_permission(actor, REPLAY_PERMISSION)
    now = timezone.now()
    if dead_letter.status == Status.DISCARDED:
        raise DeadLetterError("discarded dead letters are not replayed", conflict=True)
    if not DeadLetter.objects.filter(claimable(force=force, now=now), pk=dead_letter.pk).exists():
        if dead_letter.status == Status.REPLAYED:
            raise DeadLetterError('already replayed; send {"force": true} to replay it again',
                                  conflict=True)
        raise DeadLetterError("a replay of it is in progress", conflict=True)
    request = dead_letter_replay_request(
        filters={"ids": [dead_letter.pk]}, actor=actor, via=via, force=force, now=now
    )
    if not request.queued:
        raise DeadLetterError(
            f"no enabled replay target for {dead_letter.service} / {dead_letter.operation}; "
            "add one in the admin (Replay targets)", conflict=True,
        )
    return request


# --- running a replay ------------------------------------------------------------------


def envelope(dead_letter: DeadLetter, attempt: int) -> dict[str, Any]:
    """What a webhook receives (and, less the id, what a Celery task is given)."""
    return {
        "dead_letter_id": dead_letter.pk,
        "replay_key": str(dead_letter.replay_key),
        "operation": dead_letter.operation,
        "payload": dead_letter.replay_payload,
        "headers": dead_letter.headers or {},
        "attempt": attempt,
    }


def _send(target: ReplayTarget, dead_letter: DeadLetter, attempt: int) -> int | None:
    """Deliver one replay; returns the HTTP status (None for a task), or raises
    OutboundError."""
    message = envelope(dead_letter, attempt)
    if target.kind == Kind.CELERY_TASK:
        outbound.send_task(target.task_name, kwargs={
            "payload": message["payload"], "headers": message["headers"],
            "replay_key": message["replay_key"], "dead_letter_id": message["dead_letter_id"],
        })
        return None
    if target.kind != Kind.WEBHOOK:
        raise outbound.OutboundError(f"unknown target kind {target.kind!r}", permanent=True)
    if not target.secret:
        raise outbound.OutboundError("the webhook target has no signing secret",
                                     permanent=True)
    body = outbound.json_bytes(message)
    headers = {IDEMPOTENCY_HEADER: message["replay_key"],
               **signing.sign(target.secret, body, timestamp=int(time.time()))}
    return outbound.post(target.url, body, headers=headers).status


@dataclass
class BatchResult:
    replayed: int = 0
    failed: int = 0
    skipped: int = 0
    last_id: int = 0
    more: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.replayed + self.failed


def replay_dead_letter(
    dead_letter: DeadLetter, target: ReplayTarget, *, actor_id: int | None, via: str,
    force: bool,
) -> DeadLetterAttempt | None:
    """Claim, send and record one replay. None when the row was not claimable (someone
    else has it, or it changed since it was selected)."""
    claimed_at = timezone.now()
    claimed = DeadLetter.objects.filter(
        claimable(force=force, now=claimed_at), pk=dead_letter.pk
    ).update(status=Status.REPLAYING, last_replay_at=claimed_at)
    if not claimed:
        return None
    # An unfinished attempt now can only be a dead worker's: close it as such.
    DeadLetterAttempt.objects.filter(dead_letter_id=dead_letter.pk, finished_at=None).update(
        finished_at=claimed_at, outcome=Outcome.FAILED,
        error="interrupted: the replaying worker stopped before recording an outcome",
    )
    dead_letter.refresh_from_db(fields=["payload", "edited_payload", "headers", "replay_count"])
    attempt = DeadLetterAttempt.objects.create(
        dead_letter=dead_letter, started_at=claimed_at, actor_id=actor_id, via=via
    )
    error: outbound.OutboundError | None = None
    try:
        attempt.response_status = _send(target, dead_letter, dead_letter.replay_count + 1)
    except outbound.OutboundError as exc:
        error = exc
        attempt.response_status = exc.status
    finished = timezone.now()
    attempt.finished_at = finished
    attempt.outcome = Outcome.FAILED if error else Outcome.SUCCEEDED
    attempt.error = error.message if error else ""
    attempt.save(update_fields=["finished_at", "outcome", "response_status", "error"])

    mine = DeadLetter.objects.filter(
        pk=dead_letter.pk, status=Status.REPLAYING, last_replay_at=claimed_at
    )
    if error is None:
        mine.update(status=Status.REPLAYED, replay_count=F("replay_count") + 1,
                    replayed_at=finished, replayed_by_id=actor_id, last_replay_error="",
                    next_replay_at=None)
    else:
        retry_at = None
        if not error.permanent and via == "system":
            delay = backoff_delay_ms(AUTOMATIC_BACKOFF, dead_letter.replay_count)
            retry_at = finished + timedelta(milliseconds=delay)
        mine.update(status=Status.FAILED, replay_count=F("replay_count") + 1,
                    last_replay_error=_error_text(error), next_replay_at=retry_at)
    return attempt


def _error_text(error: outbound.OutboundError) -> str:
    kind = "permanent" if error.permanent else "temporary"
    text = f"{error.message} ({kind})"
    if error.body_excerpt:
        text += f": {error.body_excerpt[:500]}"
    return text


def dead_letter_replay_batch(
    *,
    filters: Mapping[str, Any],
    actor_id: int | None = None,
    via: str = "system",
    force: bool = False,
    after_id: int = 0,
    limit: int | None = None,
    budget_seconds: float | None = None,
) -> BatchResult:
    """Replay up to ``limit`` dead letters matching ``filters`` with ids after ``after_id``.

    ``more`` says whether a next run (from ``last_id``) is needed: the batch was full, or
    the time budget ran out while waiting for a target's rate.
    """
    limit = limit or conf.get("REPLAY_BATCH_SIZE")
    budget = budget_seconds if budget_seconds is not None else conf.get("REPLAY_RUN_SECONDS")
    deadline = time.monotonic() + budget
    result = BatchResult(last_id=after_id)
    batch = list(
        replay_filter_queryset(filters)
        .filter(claimable(force=force, now=timezone.now()), id__gt=after_id)
        .filter(_has_target())
        .order_by("id")[:limit]
    )
    targets = {
        (t.service_id, t.operation): t
        for t in ReplayTarget.objects.filter(
            enabled=True,
            service_id__in={d.service_id for d in batch},
            operation__in={d.operation for d in batch},
        )
    }
    user_model = get_user_model()
    if actor_id is not None and not user_model.objects.filter(pk=actor_id).exists():
        actor_id = None
    for dead_letter in batch:
        target = targets.get((dead_letter.service_id, dead_letter.operation))
        if target is None or (via == "system" and dead_letter.replay_count >= target.max_replays):
            result.skipped += 1
            result.last_id = dead_letter.pk
            continue
        try:
            pacing.acquire(f"replay-target:{target.pk}", target.rate_per_second,
                           max_wait=max(0.0, deadline - time.monotonic()))
        except pacing.PacingTimeout:
            result.more = True  # the rest waits for the next run
            return result
        attempt = replay_dead_letter(dead_letter, target, actor_id=actor_id, via=via,
                                     force=force)
        result.last_id = dead_letter.pk
        if attempt is None:
            result.skipped += 1
        elif attempt.outcome == Outcome.SUCCEEDED:
            result.replayed += 1
        else:
            result.failed += 1
            result.errors.append(f"#{dead_letter.pk}: {attempt.error}")
    result.more = len(batch) == limit
    return result


def dead_letters_reclaim_stuck(*, now: datetime | None = None) -> int:
    """Put REPLAYING rows abandoned past the claim timeout back to FAILED, so they show
    as failed (and are picked up again) rather than "replaying" for ever."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=conf.get("REPLAY_CLAIM_TIMEOUT_SECONDS"))
    with transaction.atomic():
        qs = DeadLetter.objects.filter(status=Status.REPLAYING, last_replay_at__lt=stale)
        ids = list(qs.select_for_update(skip_locked=True).values_list("id", flat=True))
        if not ids:
            return 0
        DeadLetterAttempt.objects.filter(dead_letter_id__in=ids, finished_at=None).update(
            finished_at=now, outcome=Outcome.FAILED,
            error="interrupted: the replaying worker stopped before recording an outcome",
        )
        return qs.filter(id__in=ids).update(
            status=Status.FAILED, replay_count=F("replay_count") + 1,
            last_replay_error="interrupted: the replay did not finish in time",
        )
