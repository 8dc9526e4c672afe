"""What new events do to a group's status (pure: no Django).

A resolved group that sees an event received after it was resolved is a regression and
reopens. A mute with an end time lapses once that time has passed; a mute without one
("until resolved") holds whatever arrives.
"""

from dataclasses import dataclass
from datetime import datetime

OPEN, RESOLVED, MUTED = "OPEN", "RESOLVED", "MUTED"


@dataclass(frozen=True)
class StatusChange:
    status: str
    event: str | None  # "REGRESSED", "UNMUTED" or None when nothing changed


def status_after_events(
    *,
    status: str,
    resolved_at: datetime | None,
    muted_until: datetime | None,
    newest_received_at: datetime,
    now: datetime,
) -> StatusChange:
    if status == RESOLVED and (resolved_at is None or newest_received_at > resolved_at):
        return StatusChange(OPEN, "REGRESSED")
    if status == MUTED and muted_until is not None and muted_until <= now:
        return StatusChange(OPEN, "UNMUTED")
    return StatusChange(status, None)
