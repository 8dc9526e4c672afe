"""The daily rollups rebuilt from the hourly ones, one UTC day per transaction.

Every writer keeps ErrorMetricDay equal to the sum of its day's ErrorMetric rows (the
digest upserts both, the outcome service adjusts both, deletions cascade from groups and
services, the clean-up deletes both). This rebuilds days from the hourly rows when that
cannot have held: after an upgrade during which digest workers still running the old code
wrote hourly rows only, or after a restore of the hourly table alone.

A day is rebuilt by one DELETE and one INSERT … SELECT … GROUP BY. On PostgreSQL the
daily table is locked first (SHARE ROW EXCLUSIVE, which a digest's upsert waits for), so
the rebuild's snapshot holds every committed digest and no digest is half in it: a digest
always upserts its hour rows before its day rows, so one that is waiting for the lock has
not committed, and adds its own sums to the rebuilt day once the rebuild commits.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Max, Min

from resilience.core.rollup_days import DAY, day_floor
from resilience.models import ErrorMetric, ErrorMetricDay

_KEY = "service_id, group_id, environment, category, severity, code, strategy"


@dataclass
class Rebuilt:
    days: int = 0
    rows: int = 0


def metric_day_rebuild(day: datetime) -> int:
    """Rebuild one UTC day's daily rows from its hourly rows; returns the rows written."""
    day = day_floor(day)
    hours, days = ErrorMetric._meta.db_table, ErrorMetricDay._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {days} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {days} WHERE bucket = %s", [adapt(day)])
        cursor.execute(
            f"INSERT INTO {days} (bucket, {_KEY}, count, succeeded, failed, last_seen) "
            f"SELECT %s, {_KEY}, SUM(count), SUM(succeeded), SUM(failed), MAX(last_seen) "
            f"FROM {hours} WHERE bucket >= %s AND bucket < %s GROUP BY {_KEY}",
            [adapt(day), adapt(day), adapt(day + DAY)],
        )
        return cursor.rowcount


def metric_days_rebuild(*, since: datetime | None = None) -> Rebuilt:
    """Rebuild every day from the one holding `since` (else the oldest hourly row) to the
    newest hourly row's; days with no hourly rows left lose their daily rows too."""
    span = ErrorMetric.objects.aggregate(first=Min("bucket"), last=Max("bucket"))
    days = ErrorMetricDay.objects.aggregate(first=Min("bucket"), last=Max("bucket"))
    firsts = [m for m in (span["first"], days["first"]) if m is not None]
    lasts = [m for m in (span["last"], days["last"]) if m is not None]
    result = Rebuilt()
    if not firsts:
        return result
    day = day_floor(max(since, min(firsts)) if since else min(firsts))
    last = day_floor(max(lasts))
    while day <= last:
        result.rows += metric_day_rebuild(day)
        result.days += 1
        day += DAY
    return result
