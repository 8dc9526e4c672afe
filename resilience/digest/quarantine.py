"""Quarantine: entries the digest could not process, set aside so it never stops on one.

A quarantined entry keeps digested_at NULL and has quarantined_at and quarantine_reason
set (a partial index holds just these rows, so counting them stays cheap). The digest and
the lag figures (/readyz, /metrics, the lag alert) skip it; the admin lists it under
"Quarantine"; an operator releases it back to the digest. Retention never deletes an
undigested entry, so nothing accepted is lost.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet

from resilience.digest.schedule import digest_schedule
from resilience.models import AuditEvent, ErrorLogEntry

# Timestamps psycopg2 can read back into a Python datetime: years 1 to 9999 in UTC (the
# connection's time zone). PostgreSQL stores far more (0001-01-01T00:00:00+14:00 is 1 BC).
_READABLE_FROM = "0001-01-01 00:00:00+00"
_READABLE_UNTIL = "10000-01-01 00:00:00+00"
_REASON_MAX = 2000


def entry_quarantine(*, entry_id: int, reason: str, now: datetime) -> None:
    """Set an entry aside: the digest skips it, the admin lists it, /metrics counts it.

    Raw SQL, because the ORM may be unable to load the row at all. On PostgreSQL a
    timestamp Python cannot read is replaced by received_at (the original stays in the
    reason), so the entry can be read everywhere else: the API, the admin, a release."""
    table = connection.ops.quote_name(ErrorLogEntry._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    reason = reason.replace("\x00", "")[:_REASON_MAX]  # PostgreSQL text cannot hold NUL
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET quarantined_at = %s, quarantine_reason = %s || CASE "
                "WHEN timestamp < %s OR timestamp >= %s THEN '; timestamp ' || "
                "(timestamp AT TIME ZONE 'UTC')::text || ' UTC replaced by received_at' "
                "ELSE '' END, timestamp = CASE WHEN timestamp < %s OR timestamp >= %s "
                "THEN received_at ELSE timestamp END WHERE id = %s",
                [stamp, reason, _READABLE_FROM, _READABLE_UNTIL, _READABLE_FROM,
                 _READABLE_UNTIL, entry_id],
            )
        else:
            cursor.execute(
                f"UPDATE {table} SET quarantined_at = %s, quarantine_reason = %s WHERE id = %s",
                [stamp, reason, entry_id],
            )


def quarantined_entries() -> QuerySet[ErrorLogEntry]:
    """The entries set aside now (the entry_quarantined partial index)."""
    return ErrorLogEntry.objects.filter(quarantined_at__isnull=False)


def entry_quarantine_release(*, entry_ids: Sequence[int], actor, via: str = "admin") -> int:
    """Give quarantined entries back to the digest (after a fix, or to see the reason
    again); returns how many were released. One AuditEvent names them."""
    with transaction.atomic():
        released = list(
            quarantined_entries().filter(pk__in=entry_ids).order_by("id")
            .values_list("id", flat=True)
        )
        if not released:
            return 0
        ErrorLogEntry.objects.filter(pk__in=released).update(quarantined_at=None)
        AuditEvent.objects.create(
            action="entry.quarantine_release", actor=actor, via=via,
            target_type="errorlogentry", target_id=str(released[0]),
            detail={"ids": released[:100], "count": len(released)},
        )
    transaction.on_commit(digest_schedule)
    return len(released)
