"""The procedure registry: name → function, in the order a scheduled run calls them.

A procedure takes `now` and returns a Result (or raises: the runner records FAILED). It
manages its own transactions, so a failing one never undoes or hides another's work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RECOVERY = "recovery"
CLEANUP = "cleanup"
IDS_SHOWN = 100  # ids kept per list in RecoveryRun.changed


@dataclass
class Result:
    outcome: str = "SUCCEEDED"  # SUCCEEDED, FAILED, SKIPPED (RecoveryRun.Outcome)
    changed: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class Procedure:
    name: str
    group: str
    description: str
    func: Callable[[datetime], Result]


PROCEDURES: dict[str, Procedure] = {}


def procedure(name: str, *, group: str, description: str, after: str | None = None):
    """Register a procedure, last in its group or right `after` another one: other apps
    (campaigns/procedures.py) register theirs from their AppConfig.ready, after recovery's
    own, and `after` keeps the run order the seed's."""
    def register(func: Callable[[datetime], Result]) -> Callable[[datetime], Result]:
        if name in PROCEDURES:
            raise ValueError(f"procedure {name!r} is registered twice")
        entry = Procedure(name, group, description, func)
        if after is None:
            PROCEDURES[name] = entry
            return func
        if after not in PROCEDURES:
            raise ValueError(f"procedure {name!r} goes after {after!r}, which is not "
                             "registered (recovery must come first in INSTALLED_APPS)")
        items = list(PROCEDURES.items())
        at = [n for n, _ in items].index(after) + 1
        PROCEDURES.clear()
        PROCEDURES.update([*items[:at], (name, entry), *items[at:]])
        return func

    return register


def in_group(group: str) -> list[Procedure]:
    return [p for p in PROCEDURES.values() if p.group == group]


def ordered() -> list[Procedure]:
    """Recovery procedures first, then clean-up, each in registration order."""
    return [*in_group(RECOVERY), *in_group(CLEANUP)]


def summarize(outcomes: Iterable[str], *, timestamp: datetime) -> dict[str, Any]:
    """The seed's summarizeRecoveryResults over one run of every procedure.

    A FAILED procedure is the seed's rejected promise; SUCCEEDED and SKIPPED (nothing to do,
    or not possible now: no bus, an open circuit) are fulfilled. "UNRECORDED" (the run could
    not be written: the database is down) counts as failed. `skipped` is Faultline's own.
    """
    outcomes = list(outcomes)
    failed = sum(1 for o in outcomes if o not in ("SUCCEEDED", "SKIPPED"))
    return {
        "successful": len(outcomes) - failed,
        "failed": failed,
        "total": len(outcomes),
        "success": failed == 0,
        "timestamp": timestamp.isoformat(),
        "skipped": outcomes.count("SKIPPED"),
    }


def ids(values: Iterable[int], key: str = "ids") -> dict[str, Any]:
    """A list of ids for RecoveryRun.changed, bounded: the count, and at most IDS_SHOWN."""
    values = list(values)
    out: dict[str, Any] = {key: values[:IDS_SHOWN]}
    if len(values) > IDS_SHOWN:
        out[f"{key}_truncated"] = True
    return out
