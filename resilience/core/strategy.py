"""Pick a handling strategy for a classified error (pure, standard library only)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from resilience.core.backoff import BackoffPolicy, backoff_delay_ms
from resilience.core.classification import Category, Classification, Severity


class Strategy(StrEnum):
    RETRY = "RETRY"
    CIRCUIT_BREAK = "CIRCUIT_BREAK"
    FALLBACK = "FALLBACK"
    DEAD_LETTER = "DEAD_LETTER"
    IMMEDIATE_ALERT = "IMMEDIATE_ALERT"


@dataclass(frozen=True)
class CircuitView:
    """What the caller's circuit breaker says about the failing dependency."""

    is_open: bool
    retry_after_ms: int | None = None


CLOSED_CIRCUIT = CircuitView(is_open=False)


@dataclass(frozen=True)
class Decision:
    strategy: Strategy
    retry_after_ms: int | None


def reads_circuit(classification: Classification, *, attempt_count: int,
                  max_attempts: int) -> bool:
    """Whether decide() looks at the circuit for this failure: only a retryable one with an
    attempt left that no rule above the retry has claimed. Ingest asks the breaker only
    then (or to count a retryable failure)."""
    return (
        classification.severity != Severity.CRITICAL
        and classification.category not in (Category.SECURITY, Category.DATA_CORRUPTION)
        and classification.retryable
        and attempt_count < max_attempts
    )


def decide(
    classification: Classification,
    *,
    attempt_count: int,
    max_attempts: int,
    policy: BackoffPolicy,
    circuit: CircuitView = CLOSED_CIRCUIT,
    rng: random.Random | None = None,
) -> Decision:
    """Strategy for one failure. Rules are checked in a fixed order; the first match wins."""
    # Humans first: critical or security problems must reach someone even if retryable.
    if classification.severity == Severity.CRITICAL:
        return Decision(Strategy.IMMEDIATE_ALERT, None)
    if classification.category == Category.SECURITY:
        return Decision(Strategy.IMMEDIATE_ALERT, None)
    # Corrupt data must not be retried or papered over by a fallback; park it.
    if classification.category == Category.DATA_CORRUPTION:
        return Decision(Strategy.DEAD_LETTER, None)
    if classification.retryable and attempt_count < max_attempts:
        # reads_circuit() is this branch's condition: keep the two in step.
        if circuit.is_open:
            # Do not hammer a dependency the breaker already considers down.
            return Decision(Strategy.CIRCUIT_BREAK, circuit.retry_after_ms)
        return Decision(Strategy.RETRY, backoff_delay_ms(policy, attempt_count, rng))
    if classification.recoverable:
        return Decision(Strategy.FALLBACK, None)
    return Decision(Strategy.DEAD_LETTER, None)
