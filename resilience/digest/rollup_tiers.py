"""The rollup tiers derived from the hourly rollups, written beside them.

Three tiers sum the hourly rollups (ErrorMetric) for the dashboard's long ranges, each with
fewer rows than the hourly key (bucket, service, group, environment, category, severity,
code, strategy):

- MetricHourTotal: per hour, service and environment (the trend);
- MetricDayTotal: per UTC day, service, environment, category, severity, strategy and code,
  a code-less one per group, with the outcomes (breakdowns, recovery rate, top codes);
- MetricDayGroup: per UTC day, group and environment (top groups).

Each is always the sum of the hourly rows it covers (count, succeeded, failed; the latest
last_seen). Every writer of ErrorMetric keeps them in the same transaction, always after the
hourly rows (digest/rollup_days.py relies on that order): the digest's upsert
(`rollup_tiers_upsert`, one call in digest/service.py), an outcome (`day_total_adjust`),
the clean-up (whole UTC days of every tier), a group's deletion (its days rebuilt,
digest/rollup_days.py) and a service's (foreign keys cascade).
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from resilience.core.health_score import hour_floor
from resilience.core.rollup_days import day_floor
from resilience.models import ErrorLogEntry, MetricDayGroup, MetricDayTotal, MetricHourTotal

_CHUNK = 500  # rows per INSERT: bounded statements (and SQLite's parameter limit)
_HOUR_TOTAL = ("bucket", "service_id", "environment")
_DAY_TOTAL = ("bucket", "service_id", "environment", "category", "severity", "strategy", "code",
              "codeless_group")
_DAY_GROUP = ("bucket", "group_id", "environment")


def codeless_group(*, code: str, group_id: int) -> int:
    """MetricDayTotal.codeless_group of an hourly row: its group when it has no code."""
    return group_id if code == "" else 0


def _max(a: datetime, b: datetime) -> datetime:
    return a if a >= b else b


def rollup_tiers_upsert(entries: Sequence[Any]) -> None:
    """Add digested entries (grouped: `group_id` set) to every tier, as the digest adds them
    to the hourly rollups just before."""
    hours: dict[tuple, list] = {}
    days: dict[tuple, list] = {}
    groups: dict[tuple, list] = {}
    for e in entries:
        day = day_floor(e.timestamp)
        hours.setdefault((hour_floor(e.timestamp), e.service_id, e.environment), [0])[0] += 1
        total = days.setdefault(
            (day, e.service_id, e.environment, e.category, e.severity, e.strategy, e.code,
             codeless_group(code=e.code, group_id=e.group_id)), [0, 0, 0, e.timestamp])
        total[0] += 1
        total[1] += e.outcome == ErrorLogEntry.Outcome.SUCCEEDED
        total[2] += e.outcome == ErrorLogEntry.Outcome.FAILED
        total[3] = _max(total[3], e.timestamp)
        group = groups.setdefault((day, e.group_id, e.environment), [e.service_id, 0, e.timestamp])
        group[1] += 1
        group[2] = _max(group[2], e.timestamp)
    _upsert(MetricHourTotal._meta.db_table, _HOUR_TOTAL, ("count",), hours,
            ("count",), last_seen=False)
    _upsert(MetricDayTotal._meta.db_table, _DAY_TOTAL,
            ("count", "succeeded", "failed", "last_seen"), days,
            ("count", "succeeded", "failed"), last_seen=True)
    _upsert(MetricDayGroup._meta.db_table, _DAY_GROUP, ("service_id", "count", "last_seen"),
            groups, ("count",), last_seen=True)


def _upsert(table: str, key: tuple[str, ...], values: tuple[str, ...],
            rows: dict[tuple, list], added: Iterable[str], *, last_seen: bool) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE: `added` columns summed, last_seen the latest."""
    adapt = connection.ops.adapt_datetimefield_value
    merge = [f"{c} = {table}.{c} + excluded.{c}" for c in added]
    if last_seen:
        merge.append(f"last_seen = CASE WHEN excluded.last_seen > {table}.last_seen "
                     f"THEN excluded.last_seen ELSE {table}.last_seen END")
    columns = ", ".join(key + values)
    marks = "(" + ", ".join(["%s"] * (len(key) + len(values))) + ")"
    # Sorted so that concurrent digests take the same row locks in the same order.
    ordered = sorted(rows.items(), key=lambda item: tuple(str(part) for part in item[0]))
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start:start + _CHUNK]
            params: list = []
            for row_key, row_values in chunk:
                # Datetimes adapted as the ORM would (SQLite stores naive UTC text), so that
                # the ORM's range filters compare buckets in the same format.
                params.extend(adapt(v) if isinstance(v, datetime) else v
                              for v in (*row_key, *row_values))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([marks] * len(chunk))} "
                f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(merge)}",
                params,
            )


def day_total_adjust(*, timestamp: datetime, service_id: int, group_id: int, environment: str,
                     category: str, severity: str, strategy: str, code: str, succeeded: int,
                     failed: int) -> None:
    """An outcome reported after the digest: move it in its day total too (the hourly row
    first, resilience/handling/outcomes.py)."""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {MetricDayTotal._meta.db_table} SET succeeded = succeeded + %s, "
            "failed = failed + %s WHERE bucket = %s AND service_id = %s AND environment = %s "
            "AND category = %s AND severity = %s AND strategy = %s AND code = %s "
            "AND codeless_group = %s",
            [succeeded, failed, adapt(day_floor(timestamp)), service_id, environment, category,
             severity, strategy, code, codeless_group(code=code, group_id=group_id)],
        )
