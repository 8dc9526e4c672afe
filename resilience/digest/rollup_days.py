"""The rollup tiers rebuilt from the hourly rollups, one UTC day per transaction.

Every writer keeps the tiers (MetricHourTotal, MetricDayTotal, MetricDayGroup; see
rollup_tiers.py) equal to the sums of the hourly ErrorMetric rows they cover. This rebuilds
days from the hourly rows when that cannot have held: after an upgrade during which digest
workers still running the old code wrote hourly rows only, or after a restore of the hourly
table alone. A deleted group's days are rebuilt the same way, for its service only, once its
hourly rows are gone (`group_rollups_note`, `group_rollups_rebuild`): a day total sums many
groups, and its latest occurrence cannot be subtracted.

A day is rebuilt by one DELETE and one INSERT … SELECT … GROUP BY per tier. On PostgreSQL
the tiers are locked first (SHARE ROW EXCLUSIVE, which a digest's upsert and an outcome's
update wait for), so the rebuild's snapshot holds every committed digest and no digest is
half in it: a digest always upserts its hour rows before the tiers, so one that is waiting
for the lock has not committed, and adds its own sums to the rebuilt day once the rebuild
commits.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Max, Min, QuerySet
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from resilience.core.rollup_days import DAY, day_floor
from resilience.models import (
    ErrorGroup,
    ErrorMetric,
    MetricDayGroup,
    MetricDayTotal,
    MetricHourTotal,
    Service,
)

_TOTAL_KEY = ("service_id, environment, category, severity, strategy, code, "
              "CASE WHEN code = '' THEN group_id ELSE 0 END")
_TIERS = (MetricHourTotal, MetricDayTotal, MetricDayGroup)


@dataclass
class Rebuilt:
    days: int = 0
    rows: int = 0


def metric_day_rebuild(day: datetime, *, service_id: int | None = None) -> int:
    """Rebuild one UTC day of every tier from its hourly rows (only `service_id`'s rows when
    given); returns the rows written."""
    day = day_floor(day)
    adapt = connection.ops.adapt_datetimefield_value
    start, end = adapt(day), adapt(day + DAY)
    scope, scope_params = ("", []) if service_id is None else (" AND service_id = %s",
                                                              [service_id])
    hourly = ErrorMetric._meta.db_table
    hours_of_day = f"bucket >= %s AND bucket < %s{scope}"
    day_params = [start, end, *scope_params]
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = ", ".join(model._meta.db_table for model in _TIERS)
            cursor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")
        for model in _TIERS:
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE {hours_of_day}",
                           day_params)
        cursor.execute(
            f"INSERT INTO {MetricHourTotal._meta.db_table} (bucket, service_id, environment, "
            f"count) SELECT bucket, service_id, environment, SUM(count) FROM {hourly} "
            f"WHERE {hours_of_day} GROUP BY bucket, service_id, environment",
            day_params,
        )
        written += cursor.rowcount
        cursor.execute(
            f"INSERT INTO {MetricDayTotal._meta.db_table} (bucket, service_id, environment, "
            "category, severity, strategy, code, codeless_group, count, succeeded, failed, "
            f"last_seen) SELECT %s, {_TOTAL_KEY}, SUM(count), SUM(succeeded), SUM(failed), "
            f"MAX(last_seen) FROM {hourly} WHERE {hours_of_day} GROUP BY {_TOTAL_KEY}",
            [start, *day_params],
        )
        written += cursor.rowcount
        cursor.execute(
            f"INSERT INTO {MetricDayGroup._meta.db_table} (bucket, group_id, environment, "
            "service_id, count, last_seen) SELECT %s, group_id, environment, service_id, "
            f"SUM(count), MAX(last_seen) FROM {hourly} WHERE {hours_of_day} "
            "GROUP BY group_id, environment, service_id",
            [start, *day_params],
        )
        written += cursor.rowcount
    return written


def metric_days_rebuild(*, since: datetime | None = None) -> Rebuilt:
    """Rebuild every day from the one holding `since` (else the oldest row of any tier) to
    the newest; days with no hourly rows left lose their tier rows too."""
    spans = [ErrorMetric.objects.aggregate(first=Min("bucket"), last=Max("bucket"))]
    spans += [model.objects.aggregate(first=Min("bucket"), last=Max("bucket"))
              for model in _TIERS]
    firsts = [span["first"] for span in spans if span["first"] is not None]
    lasts = [span["last"] for span in spans if span["last"] is not None]
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


# --- a group's deletion ------------------------------------------------------------------

def _whole_service_goes(origin) -> bool:
    # Deleting a service cascades to every tier row of it: nothing to rebuild.
    return isinstance(origin, Service) or (
        isinstance(origin, QuerySet) and origin.model is Service)


@receiver(pre_delete, sender=ErrorGroup, dispatch_uid="faultline.group_rollups_note")
def group_rollups_note(sender, instance: ErrorGroup, origin=None, **kwargs) -> None:
    """Before a group goes: the UTC days of its hourly rows, for the rebuild after."""
    if _whole_service_goes(origin):
        return
    hours = (ErrorMetric.objects.filter(group_id=instance.pk).order_by()
             .values_list("bucket", flat=True).distinct())
    instance.rollup_days_to_rebuild = sorted({day_floor(hour) for hour in hours})


@receiver(post_delete, sender=ErrorGroup, dispatch_uid="faultline.group_rollups_rebuild")
def group_rollups_rebuild(sender, instance: ErrorGroup, origin=None, **kwargs) -> None:
    """After a group and its hourly rows went (same transaction): its service's slice of
    each of its days, rebuilt from the hourly rows left."""
    for day in getattr(instance, "rollup_days_to_rebuild", ()):
        metric_day_rebuild(day, service_id=instance.service_id)

