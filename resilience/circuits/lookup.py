"""What the caller's circuit says about an operation: the one place the decision asks.

The breakers themselves are in resilience/circuits/services.py (Redis, one Lua script per
call, with the database as fallback). A breaker belongs to a service and an operation, so
one service's reports never open another service's circuit; an operator may share one
circuit for an operation with every service.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import DatabaseError

from resilience.core.strategy import CLOSED_CIRCUIT, CircuitView
from resilience.infra.cache_guard import fail_open_counted

# The answer for an operation past the service's circuit limit: the report is accepted
# and decided as if the circuit were closed, and says so.
UNTRACKED = "UNTRACKED"
# Neither Redis nor the database could be asked (both down): decided as if closed, and
# the answer says the state is unknown rather than the report failing.
UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class CircuitReading:
    state: str
    view: CircuitView


NO_CIRCUIT = CircuitReading(state="CLOSED", view=CLOSED_CIRCUIT)
# A report with an operation whose decision does not depend on its circuit and which does
# not count against it (not retryable): the breaker is not asked, and the answer says so.
NOT_READ = CircuitReading(state="NOT_READ", view=CLOSED_CIRCUIT)
UNTRACKED_CIRCUIT = CircuitReading(state=UNTRACKED, view=CLOSED_CIRCUIT)
UNKNOWN_CIRCUIT = CircuitReading(state=UNKNOWN, view=CLOSED_CIRCUIT)


def circuit_readings_for(
    *, service_id: int, failures: Mapping[str, int]
) -> dict[str, CircuitReading]:
    """One call per distinct operation: count its failures (0 = only look), then read it.
    A new operation past CIRCUIT_MAX_PER_SERVICE is UNTRACKED, one whose state cannot be
    read at all is UNKNOWN: a report is never refused for want of a circuit."""
    from resilience.circuits.services import CircuitLimitReached, circuit_reading

    readings = {}
    for operation, count in failures.items():
        if operation:
            try:
                state, view = circuit_reading(operation=operation, service_id=service_id,
                                              failures=count)
            except CircuitLimitReached:
                readings[operation] = UNTRACKED_CIRCUIT
                continue
            except DatabaseError:
                # Redis down (or not configured) and the fallback's database too: whether
                # the report can still be kept is the writer's business, not the circuit's.
                fail_open_counted("circuit_state", dependency="database")
                readings[operation] = UNKNOWN_CIRCUIT
                continue
            readings[operation] = CircuitReading(state=state, view=view)
    return readings
