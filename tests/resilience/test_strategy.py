import itertools
import random

import pytest

from resilience.core.backoff import BackoffPolicy, backoff_delay_ms
from resilience.core.classification import Category, Classification, Severity, classify
from resilience.core.strategy import (
    CLOSED_CIRCUIT,
    CircuitView,
    Decision,
    Strategy,
    decide,
    reads_circuit,
)

C, S = Category, Severity
POLICY = BackoffPolicy(jitter=0.0)


def make(
    category: Category = C.TRANSIENT,
    severity: Severity = S.MEDIUM,
    *,
    retryable: bool = True,
    recoverable: bool = True,
) -> Classification:
    return Classification(category, severity, retryable, recoverable, code="X", matched=True)


def run(
    classification: Classification,
    attempt_count: int = 0,
    max_attempts: int = 3,
    circuit: CircuitView = CLOSED_CIRCUIT,
) -> Decision:
    return decide(
        classification,
        attempt_count=attempt_count,
        max_attempts=max_attempts,
        policy=POLICY,
        circuit=circuit,
        rng=random.Random(0),
    )


def test_enum_values() -> None:
    assert [s.value for s in Strategy] == [
        "RETRY",
        "CIRCUIT_BREAK",
        "FALLBACK",
        "DEAD_LETTER",
        "IMMEDIATE_ALERT",
    ]
    assert CircuitView(is_open=False, retry_after_ms=None) == CLOSED_CIRCUIT


def test_retry_uses_backoff_for_attempt_count() -> None:
    assert run(make(), attempt_count=0) == Decision(Strategy.RETRY, 1000)
    assert run(make(), attempt_count=2) == Decision(Strategy.RETRY, 4000)


def test_retry_delay_matches_backoff_with_same_rng() -> None:
    policy = BackoffPolicy()
    decision = decide(make(), attempt_count=1, max_attempts=5, policy=policy, rng=random.Random(9))
    assert decision.retry_after_ms == backoff_delay_ms(policy, 1, random.Random(9))


def test_open_circuit_breaks_with_circuit_retry_after() -> None:
    decision = run(make(), circuit=CircuitView(is_open=True, retry_after_ms=12_345))
    assert decision == Decision(Strategy.CIRCUIT_BREAK, 12_345)


def test_open_circuit_without_retry_after() -> None:
    assert run(make(), circuit=CircuitView(is_open=True)) == Decision(Strategy.CIRCUIT_BREAK, None)


def test_critical_alerts_immediately() -> None:
    assert run(make(C.RESOURCE_EXHAUSTION, S.CRITICAL)) == Decision(Strategy.IMMEDIATE_ALERT, None)


def test_security_alerts_immediately() -> None:
    decision = run(make(C.SECURITY, S.HIGH, retryable=False, recoverable=False))
    assert decision == Decision(Strategy.IMMEDIATE_ALERT, None)


def test_data_corruption_dead_letters() -> None:
    decision = run(make(C.DATA_CORRUPTION, S.HIGH, retryable=False, recoverable=False))
    assert decision == Decision(Strategy.DEAD_LETTER, None)


@pytest.mark.parametrize(
    ("classification", "expected"),
    [
        # critical beats data corruption and security
        (make(C.DATA_CORRUPTION, S.CRITICAL), Strategy.IMMEDIATE_ALERT),
        (make(C.SECURITY, S.CRITICAL), Strategy.IMMEDIATE_ALERT),
        # critical beats retryable (even if someone marked it retryable)
        (make(C.TRANSIENT, S.CRITICAL, retryable=True), Strategy.IMMEDIATE_ALERT),
        # security beats retryable
        (make(C.SECURITY, S.LOW, retryable=True), Strategy.IMMEDIATE_ALERT),
        # data corruption beats retryable and recoverable
        (make(C.DATA_CORRUPTION, S.LOW, retryable=True), Strategy.DEAD_LETTER),
    ],
)
def test_precedence(classification: Classification, expected: Strategy) -> None:
    decision = run(classification, circuit=CircuitView(is_open=True, retry_after_ms=5))
    assert decision.strategy is expected
    assert decision.retry_after_ms is None


def test_exhausted_recoverable_falls_back() -> None:
    assert run(make(), attempt_count=3, max_attempts=3) == Decision(Strategy.FALLBACK, None)


def test_exhausted_unrecoverable_dead_letters() -> None:
    exhausted = run(make(recoverable=False), attempt_count=5, max_attempts=3)
    assert exhausted == Decision(Strategy.DEAD_LETTER, None)


def test_exhausted_ignores_open_circuit() -> None:
    decision = run(make(), attempt_count=3, circuit=CircuitView(is_open=True, retry_after_ms=9))
    assert decision == Decision(Strategy.FALLBACK, None)


def test_zero_max_attempts_never_retries() -> None:
    assert run(make(), attempt_count=0, max_attempts=0).strategy is Strategy.FALLBACK


def test_not_retryable_recoverable_falls_back() -> None:
    assert run(make(C.BUSINESS_LOGIC, S.LOW, retryable=False)).strategy is Strategy.FALLBACK


def test_not_retryable_unrecoverable_dead_letters() -> None:
    decision = run(make(C.CONFIGURATION, S.HIGH, retryable=False, recoverable=False))
    assert decision == Decision(Strategy.DEAD_LETTER, None)


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        ({"code": "ETIMEDOUT"}, Strategy.RETRY),
        ({"code": "ECONNREFUSED"}, Strategy.RETRY),
        ({"code": "ETIMEDOUT", "status": 404}, Strategy.FALLBACK),
        ({"code": "ENOMEM"}, Strategy.IMMEDIATE_ALERT),
        ({"status": 401}, Strategy.IMMEDIATE_ALERT),
        ({"name": "IntegrityError"}, Strategy.FALLBACK),  # BUSINESS_LOGIC, as Sequelize's
        ({"name": "ImproperlyConfigured"}, Strategy.FALLBACK),  # CONFIGURATION is recoverable
        ({"name": "JSONDecodeError"}, Strategy.IMMEDIATE_ALERT),  # DATA_CORRUPTION is CRITICAL
        ({"name": "ValueError"}, Strategy.FALLBACK),
        ({"message": "wrapper", "cause": {"code": "ECONNRESET"}}, Strategy.RETRY),
    ],
)
def test_end_to_end_with_classify(report: dict, expected: Strategy) -> None:
    assert run(classify(report)).strategy is expected


def seed_strategy(severity: str, category: str, retryable: bool, recoverable: bool,
                  attempt_count: int, max_retries: int, allow_request: bool) -> str:
    """The seed's determineHandlingStrategy, line by line."""
    if severity == "CRITICAL":
        return "IMMEDIATE_ALERT"
    if category == "SECURITY":
        return "IMMEDIATE_ALERT"
    if category == "DATA_CORRUPTION":
        return "DEAD_LETTER"
    if retryable and attempt_count < max_retries:
        return "RETRY" if allow_request else "CIRCUIT_BREAK"
    if not retryable or attempt_count >= max_retries:
        return "FALLBACK" if recoverable else "DEAD_LETTER"
    return "FALLBACK"


_SEED_ROWS = list(__import__("tests.resilience.test_classification",
                             fromlist=["SEED_TABLE"]).SEED_TABLE)


@pytest.mark.parametrize("code", _SEED_ROWS)
@pytest.mark.parametrize(("attempt_count", "circuit_open"), [(0, False), (0, True), (3, False)])
def test_every_seed_row_gets_the_seed_strategy(code: str, attempt_count: int,
                                               circuit_open: bool) -> None:
    report = {"status": int(code)} if code.isdigit() else {"code": code}
    c = classify(report)
    expected = seed_strategy(c.severity, c.category, c.retryable, c.recoverable,
                             attempt_count, 3, allow_request=not circuit_open)
    decision = run(c, attempt_count=attempt_count, circuit=CircuitView(is_open=circuit_open))
    assert decision.strategy == expected


@pytest.mark.parametrize(
    ("category", "severity", "retryable", "recoverable"),
    [(cat, sev, r, rec) for cat in C for sev in S for r in (True, False) for rec in (True, False)],
)
def test_decide_is_determine_handling_strategy_for_every_combination(
    category: Category, severity: Severity, retryable: bool, recoverable: bool
) -> None:
    c = make(category, severity, retryable=retryable, recoverable=recoverable)
    for attempt_count in (0, 2, 3, 5):
        for circuit_open in (False, True):
            decision = run(c, attempt_count=attempt_count,
                           circuit=CircuitView(is_open=circuit_open))
            assert decision.strategy == seed_strategy(
                severity, category, retryable, recoverable, attempt_count, 3,
                allow_request=not circuit_open,
            )


def test_reads_circuit_is_exactly_when_an_open_circuit_changes_the_decision():
    opened = CircuitView(is_open=True, retry_after_ms=1234)
    for category, severity, retryable, recoverable, attempt_count in itertools.product(
        C, S, [True, False], [True, False], [0, 2, 3, 5]
    ):
        classification = make(category, severity, retryable=retryable, recoverable=recoverable)
        changes = run(classification, attempt_count, circuit=opened) != run(
            classification, attempt_count
        )
        reads = reads_circuit(classification, attempt_count=attempt_count, max_attempts=3)
        assert reads == changes, (category, severity, retryable, recoverable, attempt_count)
