"""Time ranges: the seed's parseTimeRange (Nm, Nh, Nd, any N), one table of presets."""

import re
from datetime import timedelta

import pytest

from resilience.core import time_ranges
from resilience.core.time_ranges import BadRange, parse, parse_lenient

LONGEST = timedelta(days=400)


def seed_parse_time_range(time_range: str) -> float:
    """ErrorMetricsCollector.parseTimeRange, in milliseconds, for the inputs it can read."""
    unit = time_range[-1]
    value = int(time_range[:-1])
    return {"h": value * 60 * 60 * 1000, "d": value * 24 * 60 * 60 * 1000,
            "m": value * 60 * 1000}.get(unit, 60 * 60 * 1000)


def seed_parse_time_range_with_parse_int(time_range: str) -> float:
    """The same, with JavaScript's parseInt: blanks, a sign, then the leading digits."""
    digits = re.match(r"\s*\+?([0-9]+)", time_range[:-1])[1]
    return seed_parse_time_range(f"{int(digits)}{time_range[-1]}")


@pytest.mark.parametrize("value", ["1m", "15m", "90m", "1h", "2h", "6h", "24h", "36h", "1d",
                                   "7d", "30d", "400d", "1440m"])
def test_any_number_of_minutes_hours_or_days_is_read_as_the_seed_reads_it(value):
    span = parse(value, max_span=LONGEST)
    assert span.total_seconds() * 1000 == seed_parse_time_range(value)
    assert parse_lenient(value, max_span=LONGEST) == span


def test_the_seeds_default_is_one_hour_and_a_preset():
    assert time_ranges.DEFAULT == "1h"
    assert time_ranges.DEFAULT in time_ranges.PRESETS
    assert parse(time_ranges.DEFAULT, max_span=LONGEST) == timedelta(hours=1)


@pytest.mark.parametrize("value", ["", "h", "1w", "24H", "30", "-1h", "+1h", "0h", "1.5h",
                                   " 1h", "1h ", "1h\n", "one hour", "all", "\u0661h", None, 3])
def test_anything_else_is_refused_saying_what_is_accepted(value):
    with pytest.raises(BadRange) as raised:
        parse(value, max_span=LONGEST)
    assert "followed by m, h or d" in str(raised.value)
    assert "15m, 1h, 6h, 24h, 7d, 30d" in str(raised.value)


@pytest.mark.parametrize("value", ["", "1w", "24H", "30", "all", "h", None])
def test_the_seeds_reading_of_an_unknown_unit_is_one_hour(value):
    # The seed's `default: return 60 * 60 * 1000`, restored by METRICS_REFUSE_BAD_RANGE=False.
    assert parse_lenient(value, max_span=LONGEST) == timedelta(hours=1)


@pytest.mark.parametrize(("value", "span"), [
    ("1.5h", timedelta(hours=1)),  # parseInt("1.5") is 1
    (" 90m", timedelta(minutes=90)),
    ("+2d", timedelta(days=2)),
    ("007h", timedelta(hours=7)),
    ("12abch", timedelta(hours=12)),
])
def test_the_seeds_reading_takes_the_number_as_parse_int_does(value, span):
    assert parse_lenient(value, max_span=LONGEST) == span
    assert span.total_seconds() * 1000 == seed_parse_time_range_with_parse_int(value)


@pytest.mark.parametrize("value", ["0h", "-1h", "xh", "00m"])
def test_where_the_seed_would_have_an_empty_or_negative_window_it_is_one_hour(value):
    assert parse_lenient(value, max_span=LONGEST) == timedelta(hours=1)


def test_a_range_longer_than_the_longest_is_refused_or_shortened():
    with pytest.raises(BadRange) as raised:
        parse("401d", max_span=LONGEST)
    assert "longest range, 400d" in str(raised.value)
    assert parse_lenient("401d", max_span=LONGEST) == LONGEST
    # Nine digits at most: the largest timedelta, never an OverflowError.
    with pytest.raises(BadRange):
        parse("9999999999d", max_span=LONGEST)
    assert parse_lenient("999999999d", max_span=LONGEST) == LONGEST
    assert parse_lenient("9" * 5000 + "m", max_span=LONGEST) == LONGEST


def test_presets_have_labels_and_grow():
    spans = [parse(v, max_span=LONGEST) for v in time_ranges.PRESETS]
    assert spans == sorted(spans)
    assert [time_ranges.label(v) for v in time_ranges.PRESETS] == [
        "Last 15 minutes", "Last hour", "Last 6 hours", "Last 24 hours", "Last 7 days",
        "Last 30 days"]
    assert time_ranges.describe(LONGEST) == "400d"
    assert time_ranges.describe(timedelta(minutes=90)) == "90m"
