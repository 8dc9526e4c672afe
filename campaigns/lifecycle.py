"""The campaign lifecycle as a transition table (pure: no Django import).

    DRAFT ──schedule──▶ SCHEDULED ──start──▶ RUNNING ⇄ PAUSED (pause / resume)
                                               │ end        │ end
                                               ▼            ▼
                                             COMPLETED ◀────┘
    DRAFT, SCHEDULED, RUNNING, PAUSED ──cancel──▶ CANCELLED

COMPLETED and CANCELLED are terminal. Anything not in the table raises IllegalTransition,
which the timer processor turns into a FAILED timer with that message (not retried: the
same transition would be just as illegal five minutes later).
"""

from __future__ import annotations

DRAFT = "DRAFT"
SCHEDULED = "SCHEDULED"
RUNNING = "RUNNING"
PAUSED = "PAUSED"
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"

TERMINAL = frozenset({COMPLETED, CANCELLED})

# (from status, trigger) → to status. The whole of what may happen to a campaign.
TRANSITIONS: dict[tuple[str, str], str] = {
    (DRAFT, "schedule"): SCHEDULED,
    (SCHEDULED, "start"): RUNNING,
    (RUNNING, "pause"): PAUSED,
    (PAUSED, "resume"): RUNNING,
    (RUNNING, "end"): COMPLETED,
    (PAUSED, "end"): COMPLETED,
    (DRAFT, "cancel"): CANCELLED,
    (SCHEDULED, "cancel"): CANCELLED,
    (RUNNING, "cancel"): CANCELLED,
    (PAUSED, "cancel"): CANCELLED,
}

# What each timer type does to its campaign, and the event announcing it.
TIMER_TRIGGERS: dict[str, str] = {"campaign.start": "start", "campaign.end": "end"}
TRIGGER_TOPICS: dict[str, str] = {
    "schedule": "lifecycle.campaign.scheduled",
    "start": "lifecycle.campaign.started",
    "pause": "lifecycle.campaign.paused",
    "resume": "lifecycle.campaign.resumed",
    "end": "lifecycle.campaign.completed",
    "cancel": "lifecycle.campaign.cancelled",
}


class IllegalTransition(Exception):
    """A trigger the campaign's current status does not allow."""

    code = "ILLEGAL_CAMPAIGN_TRANSITION"

    def __init__(self, status: str, trigger: str, *, target: str | None = None) -> None:
        allowed = sorted(t for (s, t) in TRANSITIONS if s == status)
        what = (f"a {status} campaign cannot move to {target}" if target
                else f"cannot {trigger} a {status} campaign")
        super().__init__(
            what + (f" (allowed: {', '.join(allowed)})" if allowed else f" ({status} is final)")
        )
        self.status = status
        self.trigger = trigger


def transition(status: str, trigger: str) -> str:
    """The status after `trigger`, or IllegalTransition."""
    try:
        return TRANSITIONS[(status, trigger)]
    except KeyError:
        raise IllegalTransition(status, trigger) from None


def is_allowed(status: str, trigger: str) -> bool:
    return (status, trigger) in TRANSITIONS


def trigger_to(status: str, target: str) -> str:
    """The trigger that moves `status` to `target` (one at most per pair), or
    IllegalTransition naming the move."""
    for (source, trigger), reached in TRANSITIONS.items():
        if source == status and reached == target:
            return trigger
    raise IllegalTransition(status, "move", target=target)
