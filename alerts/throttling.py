"""Throttle windows, silences and "N events in M minutes" (pure: time is passed in).

- Throttling (Alertmanager's ``group_interval``, per rule and subject): the first alert
  for a subject opens a window of the rule's ``throttle_minutes``. Inside it, further
  occurrences are counted, not sent. The next alert after the window carries the count
  and the time of the first counted occurrence ("and 57 more since 10:42 UTC").
- Silences mute a group, a service or a rule (every matcher a silence sets must agree)
  from ``starts_at`` until ``ends_at``; the alert is recorded as SUPPRESSED, not sent.
- A threshold "N events in M minutes" is reached when the N-th most recent occurrence
  of the group arrived within the last M minutes: the caller reads just that one row
  (newest first on an index), so the check costs at most N index entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottleState:
    last_alert_at: datetime | None = None
    count: int = 0  # occurrences held back since the last alert
    count_since: datetime | None = None


@dataclass(frozen=True)
class ThrottleDecision:
    send: bool
    previous_count: int = 0
    previous_since: datetime | None = None


def throttle_decide(state: ThrottleState, *, now: datetime, window: timedelta) -> ThrottleDecision:
    """Send, unless the last alert for this rule and subject is less than ``window`` old."""
    if state.last_alert_at is not None and now < state.last_alert_at + window:
        return ThrottleDecision(send=False)
    return ThrottleDecision(send=True, previous_count=state.count,
                            previous_since=state.count_since if state.count else None)


def throttle_after(
    state: ThrottleState, decision: ThrottleDecision, *, occurrences: int, now: datetime
) -> ThrottleState:
    """The state once the decision is carried out: a sent alert opens a new window."""
    if decision.send:
        return ThrottleState(last_alert_at=now, count=0, count_since=None)
    return ThrottleState(
        last_alert_at=state.last_alert_at,
        count=state.count + occurrences,
        count_since=state.count_since or now,
    )


@dataclass(frozen=True)
class SilenceSpec:
    id: int
    starts_at: datetime
    ends_at: datetime
    group_id: int | None = None
    service_id: int | None = None
    rule_id: int | None = None

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, *, group_id: int | None, service_id: int | None, rule_id: int | None,
                now: datetime) -> bool:
        if not self.active(now):
            return False
        if self.group_id is None and self.service_id is None and self.rule_id is None:
            return False  # a silence that names nothing mutes nothing
        return (
            (self.group_id is None or self.group_id == group_id)
            and (self.service_id is None or self.service_id == service_id)
            and (self.rule_id is None or self.rule_id == rule_id)
        )


def silenced_by(
    silences: Iterable[SilenceSpec], *, group_id: int | None, service_id: int | None,
    rule_id: int | None, now: datetime,
) -> SilenceSpec | None:
    for silence in silences:
        if silence.matches(group_id=group_id, service_id=service_id, rule_id=rule_id, now=now):
            return silence
    return None


def threshold_reached(
    *, nth_newest_at: datetime | None, window: timedelta, now: datetime
) -> bool:
    """Whether N events arrived within ``window``, given when the N-th newest one did
    (None: there are fewer than N)."""
    return nth_newest_at is not None and nth_newest_at >= now - window
