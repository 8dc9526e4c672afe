"""What the caller's circuit says about an operation: the one place the decision asks.

The breakers themselves are in resilience/services/circuits.py (Redis, one Lua script per
call, with the database as fallback). A breaker belongs to an operation name, shared by
every service that reports it; `service_id` is kept for a later per-service breaker.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from resilience.strategy import CLOSED_CIRCUIT, CircuitView


@dataclass(frozen=True)
class CircuitReading:
    state: str
    view: CircuitView


NO_CIRCUIT = CircuitReading(state="CLOSED", view=CLOSED_CIRCUIT)


def circuit_readings_for(
    *, service_id: int, failures: Mapping[str, int]
) -> dict[str, CircuitReading]:
    """One call per distinct operation: count its failures (0 = only look), then read it."""
    from resilience.services.circuits import circuit_reading

    readings = {}
    for operation, count in failures.items():
        if operation:
            state, view = circuit_reading(operation=operation, failures=count)
            readings[operation] = CircuitReading(state=state, view=view)
    return readings
