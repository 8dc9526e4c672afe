import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.core.backoff import BackoffPolicy, backoff_delay_ms

NO_JITTER = BackoffPolicy(jitter=0.0)


def test_defaults() -> None:
    policy = BackoffPolicy()
    assert (policy.base_ms, policy.factor, policy.cap_ms, policy.jitter, policy.full_jitter) == (
        1000,
        2.0,
        30_000,
        0.1,
        False,
    )


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(0, 1000), (1, 2000), (2, 4000), (3, 8000), (4, 16_000), (5, 30_000), (50, 30_000)],
)
def test_exponential_growth_capped(attempt: int, expected: int) -> None:
    assert backoff_delay_ms(NO_JITTER, attempt, random.Random(0)) == expected


def test_negative_attempt_is_first_retry() -> None:
    assert backoff_delay_ms(NO_JITTER, -3) == 1000


def test_huge_attempt_does_not_overflow() -> None:
    assert backoff_delay_ms(NO_JITTER, 10**9) == 30_000
    assert backoff_delay_ms(BackoffPolicy(factor=1e300), 10**6, random.Random(1)) <= 33_000


def test_monotone_without_jitter() -> None:
    delays = [backoff_delay_ms(NO_JITTER, a) for a in range(40)]
    assert delays == sorted(delays)


def test_jitter_adds_at_most_ten_percent() -> None:
    rng = random.Random(42)
    policy = BackoffPolicy()
    samples = [backoff_delay_ms(policy, 2, rng) for _ in range(500)]
    assert all(4000 <= s <= 4400 for s in samples)
    assert len(set(samples)) > 1  # jitter actually varies the delay


def test_full_jitter_in_zero_to_delay() -> None:
    rng = random.Random(7)
    policy = BackoffPolicy(full_jitter=True)
    samples = [backoff_delay_ms(policy, 3, rng) for _ in range(500)]
    assert all(0 <= s <= 8000 for s in samples)
    assert min(samples) < 2000 and max(samples) > 6000


def test_seeded_rng_is_deterministic() -> None:
    policy = BackoffPolicy(full_jitter=True)
    first = [backoff_delay_ms(policy, a, random.Random(123)) for a in range(10)]
    second = [backoff_delay_ms(policy, a, random.Random(123)) for a in range(10)]
    assert first == second


def test_base_above_cap_is_capped() -> None:
    assert backoff_delay_ms(BackoffPolicy(base_ms=60_000, jitter=0), 0) == 30_000


def test_zero_base() -> None:
    assert backoff_delay_ms(BackoffPolicy(base_ms=0), 5) == 0


_policies = st.builds(
    BackoffPolicy,
    base_ms=st.integers(min_value=0, max_value=120_000),
    factor=st.floats(min_value=1.0, max_value=10.0),
    cap_ms=st.integers(min_value=0, max_value=600_000),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    full_jitter=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(policy=_policies, attempt=st.integers(min_value=0, max_value=10_000), seed=st.integers())
def test_bounds_property(policy: BackoffPolicy, attempt: int, seed: int) -> None:
    delay = backoff_delay_ms(policy, attempt, random.Random(seed))
    assert isinstance(delay, int)
    assert 0 <= delay <= policy.cap_ms * (1 + policy.jitter)
    try:
        nominal = min(policy.cap_ms, policy.base_ms * policy.factor**attempt)
    except OverflowError:
        nominal = policy.cap_ms
    if policy.full_jitter:
        assert delay <= min(policy.cap_ms, nominal)
    else:
        assert int(nominal) <= delay <= nominal * (1 + policy.jitter)


@settings(max_examples=100, deadline=None)
@given(policy=_policies, attempt=st.integers(min_value=0, max_value=200))
def test_base_delay_is_monotone_in_attempt(policy: BackoffPolicy, attempt: int) -> None:
    fixed = BackoffPolicy(policy.base_ms, policy.factor, policy.cap_ms, 0.0, False)
    assert backoff_delay_ms(fixed, attempt) <= backoff_delay_ms(fixed, attempt + 1)


def seed_calculate_delay(base: float, exponential_base: float, max_delay: float,
                         jitter: bool, attempt: int, draw: float) -> int:
    """The seed's RetryHandler.calculateDelay, line by line (Math.random() is `draw`)."""
    delay = base * exponential_base**attempt
    delay = min(delay, max_delay)
    if jitter:
        delay += draw * delay * 0.1
    return math.floor(delay)


@pytest.mark.parametrize("attempt", range(8))
@pytest.mark.parametrize(("base", "factor", "cap"), [(1000, 2.0, 30_000), (250, 1.5, 5_000),
                                                     (333, 3.0, 100_000)])
@pytest.mark.parametrize("jitter", [True, False])
def test_delay_is_the_seeds_calculate_delay(attempt: int, base: int, factor: float, cap: int,
                                            jitter: bool) -> None:
    policy = BackoffPolicy(base_ms=base, factor=factor, cap_ms=cap, jitter=0.1 if jitter else 0.0)
    for seed in range(20):
        draw = random.Random(seed).random()
        assert backoff_delay_ms(policy, attempt, random.Random(seed)) == seed_calculate_delay(
            base, factor, cap, jitter, attempt, draw
        )
