"""core/rollup_days.py: UTC days, and a range of whole hours split into edge hours and
whole days that cover it once, hour for hour (pure, no database)."""

from datetime import UTC, datetime, timedelta, timezone

from resilience.core.health_score import hours_between
from resilience.core.rollup_days import DAY, day_floor, range_split

HOUR = timedelta(hours=1)


def test_a_day_is_a_utc_day_whatever_the_offset():
    paris = timezone(timedelta(hours=1))
    assert day_floor(datetime(2026, 11, 27, 0, 30, tzinfo=paris)) == datetime(
        2026, 11, 26, tzinfo=UTC)
    assert day_floor(datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)) == datetime(
        2026, 11, 27, tzinfo=UTC)


def covered(split):
    """Every hour the split reads, from the hourly side and from the daily side."""
    hours = [h for h in hours_between(split.start, split.end - HOUR)
             if h < split.days_from or h >= split.days_until]
    day = split.days_from
    while day < split.days_until:
        hours += hours_between(day, day + DAY - HOUR)
        day += DAY
    return sorted(hours)


def test_every_hour_is_read_once_from_one_tier():
    base = datetime(2026, 11, 20, tzinfo=UTC)
    for start_hour in range(0, 30, 1):
        for length in (1, 5, 23, 24, 25, 47, 48, 49, 24 * 7, 24 * 30 + 1):
            start = base + start_hour * HOUR
            split = range_split(start=start, end=start + length * HOUR)
            assert covered(split) == hours_between(start, start + (length - 1) * HOUR)
            assert split.days_from.hour == split.days_until.hour == 0 or not split.has_days
            whole_days_inside = (length - (-start_hour % 24)) // 24 if length >= 24 else 0
            assert split.has_days == (whole_days_inside > 0), (start_hour, length)


def test_a_range_holding_no_whole_day_is_all_hours():
    start = datetime(2026, 11, 20, 5, tzinfo=UTC)
    split = range_split(start=start, end=start + 30 * HOUR)  # 05:00 … 11:00 next day
    assert not split.has_days
    assert (split.days_from, split.days_until) == (split.end, split.end)
