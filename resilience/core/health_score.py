"""The dashboard's pure arithmetic: hour buckets of a range, recovery rate, health score.

Standard library only, time passed in, tested without a database.

Both figures are the seed's ErrorMetricsCollector (getRecoveryRate, calculateHealthScore):

    recovery_rate = recovered / results * 100   (0 when there are no results)
    penalty       = min(total_errors * 0.1, 50)
    bonus         = recovery_rate * 0.5
    score         = clamp(100 - penalty + bonus, 0, 100)

`results` is every decision in the range (the seed's COUNT(*) over its handling results)
and `recovered` the RETRY and FALLBACK decisions whose outcome was reported a success. So
a range with no errors scores 100, 500 or more errors cost the full 50 points, and a
recovery rate of r % gives back r/2 points (never above 100).
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


def recovery_rate(*, recovered: int, results: int) -> float:
    """Percent of all decisions that were recovered (RETRY or FALLBACK, then a success).

    Decisions whose outcome was never reported count as not recovered, as the seed's
    RETRY results do (`success: false` when the retry is only scheduled). 0 when there are
    no decisions, as in the seed.
    """
    if results <= 0:
        return 0.0
    return 100.0 * recovered / results


def health_score(*, total: int, recovery_rate_percent: float | None) -> float:
    """The seed's calculateHealthScore. A rate of None (no outcome reported) counts as 0,
    which is the number the seed's getRecoveryRate gives in that case."""
    penalty = min(total * PENALTY_PER_ERROR, PENALTY_CAP)
    bonus = (recovery_rate_percent or 0.0) * BONUS_PER_RECOVERY_PERCENT
    return max(0.0, min(100.0, 100.0 - penalty + bonus))
