"""The day tiers' arithmetic: which UTC day a moment is counted in, and how a range of
whole hours splits into edge hours (read from the hourly rollups) and whole days (read
from the day tiers).

Days are UTC days, [00:00 UTC, next 00:00 UTC): the same for every operator and every
process, whatever its time zone. The split is exact: the whole days and the edge hours
cover the range, hour for hour, once each.

Standard library only, time passed in, tested without a database.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAY = timedelta(days=1)


def day_floor(moment: datetime) -> datetime:
    """00:00 UTC of the day holding `moment` (the daily bucket it is counted in)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def day_ceil(moment: datetime) -> datetime:
    """`moment` if it starts a UTC day, else the start of the next one."""
    floor = day_floor(moment)
    return floor if floor == moment else floor + DAY


@dataclass(frozen=True)
class RangeSplit:
    """[start, end) as hours before the first whole day, whole days, hours after them.

    `days_from` == `days_until` when the range holds no whole day: then every hour is an
    edge hour ([start, end) is all `head`).
    """

    start: datetime
    days_from: datetime
    days_until: datetime
    end: datetime

    @property
    def has_days(self) -> bool:
        return self.days_from < self.days_until


def range_split(*, start: datetime, end: datetime) -> RangeSplit:
    """Split [start, end) (whole hours) into [start, days_from) hours, [days_from,
    days_until) whole UTC days and [days_until, end) hours."""
    days_from = day_ceil(start)
    days_until = day_floor(end)
    if days_from >= days_until:  # no whole day inside: hours only
        return RangeSplit(start=start, days_from=end, days_until=end, end=end)
    return RangeSplit(start=start, days_from=days_from, days_until=days_until, end=end)
