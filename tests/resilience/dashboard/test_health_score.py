"""The dashboard's pure arithmetic, without a database."""

from datetime import UTC, datetime, timedelta

import pytest

from resilience.health_score import (
    health_score,
    hours_between,
    range_buckets,
    recovery_rate,
    zero_filled_trend,
)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, 1, hour, minute, tzinfo=UTC)


def test_no_errors_scores_100():
    assert health_score(total=0, recovery_rate_percent=None) == 100.0


def test_each_error_costs_a_tenth_of_a_point_up_to_50():
    assert health_score(total=100, recovery_rate_percent=None) == 90.0
    assert health_score(total=499, recovery_rate_percent=0) == pytest.approx(50.1)
    assert health_score(total=10_000_000, recovery_rate_percent=None) == 50.0


def test_the_recovery_rate_gives_back_half_its_percent_and_the_score_stays_under_100():
    assert health_score(total=1000, recovery_rate_percent=60.0) == 80.0
    assert health_score(total=100, recovery_rate_percent=100.0) == 100.0


def test_the_recovery_rate_is_successes_over_all_handled_unknown_included():
    assert recovery_rate(succeeded=3, handled=4) == 75.0
    assert recovery_rate(succeeded=1, handled=3) == 33.33
    assert recovery_rate(succeeded=0, handled=0) is None


def test_a_range_counts_every_hour_it_overlaps():
    assert range_buckets(now=at(10, 20), span=timedelta(minutes=15)) == (at(10), at(10))
    assert range_buckets(now=at(10, 5), span=timedelta(minutes=15)) == (at(9), at(10))
    assert range_buckets(now=at(10, 20), span=timedelta(hours=1)) == (at(9), at(10))
    first, last = range_buckets(now=at(10, 20), span=timedelta(hours=24))
    assert len(hours_between(first, last)) == 25


def test_the_trend_has_a_point_for_every_hour_with_zeros_filled_in():
    trend = zero_filled_trend([(at(9), 4), (at(11), 1), (at(9), 2)], first=at(8), last=at(11))
    assert trend == [(at(8), 0), (at(9), 6), (at(10), 0), (at(11), 1)]
