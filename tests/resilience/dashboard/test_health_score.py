"""The dashboard's pure arithmetic, without a database, against the seed's own functions."""

from datetime import UTC, datetime, timedelta

import pytest

from resilience.core.health_score import (
    health_score,
    hours_between,
    range_buckets,
    recovery_rate,
    zero_filled_trend,
)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, 1, hour, minute, tzinfo=UTC)


def seed_health_score(total_errors: float, recovery_rate: float) -> float:
    """ErrorMetricsCollector.calculateHealthScore, line by line."""
    error_penalty = min(total_errors * 0.1, 50)
    recovery_bonus = recovery_rate * 0.5
    return max(0, min(100, 100 - error_penalty + recovery_bonus))


def seed_recovery_rate(results: list[tuple[str, bool]]) -> float:
    """ErrorMetricsCollector.getRecoveryRate over (strategy, success) handling results."""
    recovered = sum(1 for strategy, success in results
                    if strategy in ("RETRY", "FALLBACK") and success)
    total = len(results)
    return (recovered / total) * 100 if total > 0 else 0


@pytest.mark.parametrize("total", [0, 1, 7, 100, 499, 500, 501, 10_000_000])
@pytest.mark.parametrize("rate", [0.0, 12.5, 33.333333333333336, 60.0, 100.0])
def test_the_health_score_is_the_seeds_formula(total, rate):
    assert health_score(total=total, recovery_rate_percent=rate) == pytest.approx(
        seed_health_score(total, rate))


def test_the_health_score_reads_like_the_seed_says():
    assert health_score(total=0, recovery_rate_percent=0.0) == 100.0
    assert health_score(total=100, recovery_rate_percent=0.0) == 90.0
    assert health_score(total=10_000_000, recovery_rate_percent=0.0) == 50.0  # penalty cap
    assert health_score(total=1000, recovery_rate_percent=60.0) == 80.0
    assert health_score(total=100, recovery_rate_percent=100.0) == 100.0  # clamped


def test_no_outcome_reported_scores_as_the_seeds_rate_of_zero():
    assert health_score(total=300, recovery_rate_percent=None) == health_score(
        total=300, recovery_rate_percent=0.0) == pytest.approx(seed_health_score(300, 0))


@pytest.mark.parametrize("results", [
    [],
    [("RETRY", True)],
    [("RETRY", False), ("FALLBACK", True), ("DEAD_LETTER", False), ("IMMEDIATE_ALERT", True)],
    [("CIRCUIT_BREAK", True), ("FALLBACK", True), ("FALLBACK", True)],
    [("RETRY", True)] * 3 + [("RETRY", False)] * 4 + [("DEAD_LETTER", False)] * 2,
])
def test_the_recovery_rate_is_the_seeds_over_every_handling_result(results):
    recovered = sum(1 for s, ok in results if s in ("RETRY", "FALLBACK") and ok)
    assert recovery_rate(recovered=recovered, results=len(results)) == pytest.approx(
        seed_recovery_rate(results))


def test_the_rate_is_a_percentage_and_zero_without_results():
    assert recovery_rate(recovered=1, results=4) == 25.0
    assert recovery_rate(recovered=0, results=0) == 0.0


def test_a_range_counts_every_hour_it_overlaps():
    assert range_buckets(now=at(10, 20), span=timedelta(minutes=15)) == (at(10), at(10))
    assert range_buckets(now=at(10, 5), span=timedelta(minutes=15)) == (at(9), at(10))
    assert range_buckets(now=at(10, 20), span=timedelta(hours=1)) == (at(9), at(10))
    first, last = range_buckets(now=at(10, 20), span=timedelta(hours=24))
    assert len(hours_between(first, last)) == 25


def test_the_trend_has_a_point_for_every_hour_with_zeros_filled_in():
    trend = zero_filled_trend([(at(9), 4), (at(11), 1), (at(9), 2)], first=at(8), last=at(11))
    assert trend == [(at(8), 0), (at(9), 6), (at(10), 0), (at(11), 1)]
