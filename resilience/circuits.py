"""What the caller's circuit says about an operation.

Shared circuit breakers (Redis, one Lua script per transition) come with their own issue.
Until then this is the one place that answers, and it answers "closed" for every operation.
"""

from resilience.strategy import CLOSED_CIRCUIT, CircuitView


def circuit_view_for(*, service_id: int, operation: str) -> CircuitView:
    return CLOSED_CIRCUIT
