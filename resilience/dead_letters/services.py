"""Dead letters: creating them, editing, discarding and purging. Replay is in replay.py.

Nothing here deletes or changes a dead letter silently: edit, discard and purge each
write an AuditEvent (who, how, what), and a purge is one AuditEvent naming every row it
removed. The original payload is never changed; an operator's edit sits beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from resilience import conf, signals
from resilience.core.safe_json import replace_bad_text
from resilience.models import AuditEvent, DeadLetter, ErrorLogEntry

Status = DeadLetter.Status
REPLAY_PERMISSION = "resilience.replay_deadletter"
PURGE_PERMISSION = "resilience.purge_deadletter"
TARGET_TYPE = "dead_letter"
PURGEABLE = (Status.DISCARDED, Status.REPLAYED)
_OPERATION_MAX = DeadLetter._meta.get_field("operation").max_length


class DeadLetterError(Exception):
    """An operation on dead letters that cannot be done as asked (a 400/409 in the API)."""

    def __init__(self, message: str, *, field: str | None = None, conflict: bool = False):
        super().__init__(message)
        self.message = message
        self.field = field
        self.conflict = conflict


def require_permission(actor, permission: str) -> None:
    """Actions carry their actor; None is the system itself (recovery, retention)."""
    if actor is not None and not actor.has_perm(permission):
        raise PermissionDenied(f"needs the {permission.split('.')[-1]} permission")


def audit(
    action: str, *, actor, via: str, target_id: Any = "", detail: Mapping | None = None
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action, actor=actor, via=via, target_type=TARGET_TYPE,
        target_id=str(target_id), detail=dict(detail or {}),
    )


# --- creation ------------------------------------------------------------------------


def entry_reason(entry: ErrorLogEntry) -> str:
    """"name/code: message", as the entry is titled elsewhere."""
    label = entry.name or entry.code or "Error"
    return f"{label}: {entry.message}" if entry.message else label


def dead_letter_replayable(*, operation: str, payload: Any) -> bool:
    """Whether a DEAD_LETTER decision has something to replay: a payload, and an operation
    to find its replay target by. Without them the digest makes no dead letter (it could
    only be discarded) and marks the group instead; DEAD_LETTER_REQUIRES_PAYLOAD=False
    makes one for every decision, as the seed does."""
    if not conf.get("DEAD_LETTER_REQUIRES_PAYLOAD"):
        return True
    return payload is not None and bool(operation)


def dead_letter_for_entry(entry: ErrorLogEntry, *, payload: Any) -> DeadLetter:
    """An unsaved DeadLetter for an entry the strategy sent to the dead-letter queue.

    The digest passes ``payload`` separately: it loads payloads only for these entries.
    """
    return DeadLetter(
        service_id=entry.service_id,
        entry_id=entry.pk,
        operation=(entry.operation or "")[:_OPERATION_MAX],
        payload=payload,
        reason=entry_reason(entry),
        category=entry.category,
        attempt_count=entry.attempt_count,
        first_failed_at=entry.timestamp,
        last_failed_at=entry.timestamp,
    )


def _alert_created(dead_letter_id: int) -> None:
    signals.announce(signals.dead_letter_created, dead_letter_id=dead_letter_id)


def dead_letter_create(
    *,
    service_id: int,
    operation: str,
    payload: Any,
    reason: str,
    category: str = "",
    headers: Mapping[str, str] | None = None,
    attempt_count: int = 0,
    entry: ErrorLogEntry | None = None,
    first_failed_at: datetime | None = None,
    last_failed_at: datetime | None = None,
) -> DeadLetter:
    """Park work that could not be done, for inspection and replay.

    Called by the API for services that dead-letter their own work, and by the in-process
    guard. With ``entry``, the failure times default to the entry's timestamp, and an entry
    that already has its dead letter (the digest made it) gets that one back.
    """
    now = timezone.now()
    first = first_failed_at or (entry.timestamp if entry else None) or now
    last = last_failed_at or (entry.timestamp if entry else None) or first
    letter = DeadLetter(
        service_id=service_id,
        entry=entry,
        operation=replace_bad_text(operation[:_OPERATION_MAX]),
        payload=payload,
        headers=dict(headers or {}),
        # In-process callers pass an exception's text: what PostgreSQL cannot hold
        # (NUL, lone surrogates) is replaced rather than failing the write.
        reason=replace_bad_text(reason),
        category=category,
        attempt_count=attempt_count,
        first_failed_at=first,
        last_failed_at=max(first, last),
        created_at=now,
    )
    if entry is None:
        letter.save(force_insert=True)
        # The digest alerts on the dead letters of entries; this one has none.
        transaction.on_commit(partial(_alert_created, letter.pk))
        return letter
    # One dead letter per entry: the digest makes one for every DEAD_LETTER decision too,
    # and whichever of the two comes second gets the first one's row.
    existing = DeadLetter.objects.filter(entry=entry).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            letter.save(force_insert=True)
    except IntegrityError:
        return DeadLetter.objects.get(entry=entry)
    return letter


# --- edit, discard, purge -----------------------------------------------------------------


@transaction.atomic
def dead_letter_edit(
    *, dead_letter: DeadLetter, payload: Any, actor, via: str = "admin",
    now: datetime | None = None,
) -> DeadLetter:
    """Keep an operator's corrected payload beside the original; replays then send it."""
    require_permission(actor, REPLAY_PERMISSION)
    if dead_letter.status == Status.DISCARDED:
        raise DeadLetterError("a discarded dead letter cannot be edited", conflict=True)
    had_edit = dead_letter.edited_payload is not None
    dead_letter.edited_payload = payload
    dead_letter.edited_by = actor
    dead_letter.edited_at = now or timezone.now()
    dead_letter.save(update_fields=["edited_payload", "edited_by", "edited_at"])
    audit("dead_letter.edit", actor=actor, via=via, target_id=dead_letter.pk,
          detail={"operation": dead_letter.operation, "replaced_earlier_edit": had_edit})
    return dead_letter


def dead_letters_discard(
    *, dead_letters: QuerySet[DeadLetter], actor, via: str = "admin",
    now: datetime | None = None,
) -> list[int]:
    """Discard the given dead letters (not those being replayed); returns the ids changed.

    Discarded rows are kept (and can still be read) until someone purges them.
    """
    require_permission(actor, REPLAY_PERMISSION)
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            dead_letters.exclude(status__in=[Status.DISCARDED, Status.REPLAYING])
            .select_for_update()
            .order_by("id")
            .values_list("id", flat=True)
        )
        if not ids:
            return []
        DeadLetter.objects.filter(id__in=ids).update(
            status=Status.DISCARDED, discarded_by=actor, discarded_at=now, next_replay_at=None
        )
        AuditEvent.objects.bulk_create(
            AuditEvent(action="dead_letter.discard", actor=actor, via=via, at=now,
                       target_type=TARGET_TYPE, target_id=str(pk))
            for pk in ids
        )
    return ids


def dead_letter_discard(
    *, dead_letter: DeadLetter, actor, via: str = "admin", now: datetime | None = None
) -> DeadLetter:
    if dead_letter.status == Status.DISCARDED:
        raise DeadLetterError("already discarded", conflict=True)
    if dead_letter.status == Status.REPLAYING:
        raise DeadLetterError("a replay is in progress; discard it once it ends", conflict=True)
    dead_letters_discard(
        dead_letters=DeadLetter.objects.filter(pk=dead_letter.pk), actor=actor, via=via, now=now
    )
    dead_letter.refresh_from_db()
    return dead_letter


@dataclass(frozen=True)
class PurgeResult:
    count: int
    ids: list[int]


def purgeable(*, older_than_days: int | None = None, ids: Iterable[int] | None = None,
              now: datetime | None = None) -> QuerySet[DeadLetter]:
    """DISCARDED or REPLAYED rows: all of them, those settled more than N days ago, or the
    given ids (rows in other states are never purged, whatever is asked)."""
    qs = DeadLetter.objects.filter(status__in=PURGEABLE)
    if older_than_days is not None:
        if older_than_days < 0:
            raise DeadLetterError("must be 0 or more", field="older_than_days")
        cut = (now or timezone.now()) - timedelta(days=older_than_days)
        qs = qs.filter(
            Q(status=Status.DISCARDED, discarded_at__lt=cut)
            | Q(status=Status.REPLAYED, replayed_at__lt=cut)
        )
    if ids is not None:
        qs = qs.filter(id__in=list(ids))
    return qs


PURGE_CHUNK = 1000


def dead_letter_purge(
    *,
    actor,
    via: str = "admin",
    older_than_days: int | None = None,
    ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> PurgeResult:
    """Delete settled dead letters for good, recorded as one AuditEvent with every id."""
    require_permission(actor, PURGE_PERMISSION)
    if older_than_days is None and ids is None:
        raise DeadLetterError("say what to purge: older_than_days or ids")
    with transaction.atomic():
        doomed = list(
            purgeable(older_than_days=older_than_days, ids=ids, now=now)
            .order_by("id").values_list("id", flat=True)
        )
        if not doomed:
            return PurgeResult(0, [])
        for start in range(0, len(doomed), PURGE_CHUNK):
            DeadLetter.objects.filter(id__in=doomed[start:start + PURGE_CHUNK]).delete()
        audit("dead_letter.purge", actor=actor, via=via, detail={
            "count": len(doomed), "ids": doomed, "older_than_days": older_than_days,
        })
    return PurgeResult(len(doomed), doomed)
