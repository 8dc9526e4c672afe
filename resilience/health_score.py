"""The dashboard's pure arithmetic: hour buckets of a range, recovery rate, health score.

Standard library only, time passed in, tested without a database.

The health score is the seed service's formula, read as follows (docs/architecture.md,
"Dashboard and observability"):

    penalty = min(total_errors * 0.1, 50)
    bonus   = recovery_rate * 0.5          (recovery_rate in percent, 0 when unknown)
    score   = clamp(100 - penalty + bonus, 0, 100)

So a range with no errors scores 100, 500 or more errors cost the full 50 points, and a
recovery rate of r % gives back up to r/2 points (never above 100).
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
PENALTY_PER_ERROR = 0.1
PENALTY_CAP = 50.0
BONUS_PER_RECOVERY_PERCENT = 0.5


def hour_floor(moment: datetime) -> datetime:
    """The start of the hour holding `moment` (the rollup bucket it is counted in)."""
    return moment.replace(minute=0, second=0, microsecond=0)


def range_buckets(*, now: datetime, span: timedelta) -> tuple[datetime, datetime]:
    """First and last hourly bucket that overlap the range (now - span, now].

    Rollups are hourly, so a range's edges are widened to whole hours: every bucket whose
    hour overlaps the range counts in full. "15m" at 10:20 is the 10:00 bucket; "1h" at
    10:20 is the 09:00 and 10:00 buckets.
    """
    return hour_floor(now - span), hour_floor(now)


def hours_between(first: datetime, last: datetime) -> list[datetime]:
    """Every hourly bucket from first to last, both included."""
    hours = []
    moment = first
    while moment <= last:
        hours.append(moment)
        moment += HOUR
    return hours


def zero_filled_trend(
    counts: Iterable[tuple[datetime, int]], *, first: datetime, last: datetime
) -> list[tuple[datetime, int]]:
    """(hour, count) for every hour of the range, 0 where no rollup row exists."""
    by_hour: dict[datetime, int] = {}
    for hour, count in counts:
        by_hour[hour] = by_hour.get(hour, 0) + int(count)
    return [(hour, by_hour.get(hour, 0)) for hour in hours_between(first, last)]


def recovery_rate(*, succeeded: int, handled: int) -> float | None:
    """Percent of handled decisions (RETRY + FALLBACK) whose outcome was a success.

    Unknown outcomes count as not (yet) recovered. None when nothing was handled.
    """
    if handled <= 0:
        return None
    return round(100.0 * succeeded / handled, 2)


def health_score(*, total: int, recovery_rate_percent: float | None) -> float:
    penalty = min(total * PENALTY_PER_ERROR, PENALTY_CAP)
    bonus = (recovery_rate_percent or 0.0) * BONUS_PER_RECOVERY_PERCENT
    return round(max(0.0, min(100.0, 100.0 - penalty + bonus)), 1)
