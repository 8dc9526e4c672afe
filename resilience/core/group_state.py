"""What new events do to a group's status (pure: no Django).

A resolved group that sees an event received after it was resolved is a regression and
reopens. Resolved "in next release" (Sentry's semantics) it reopens only for such an event
from another release than the one current at resolution; an event without a release cannot
say it is newer and keeps it resolved. A mute with an end time lapses once that time has
passed; a mute for N more events lapses once times_seen passes the count it was muted at
plus N; a mute with neither ("until resolved") holds whatever arrives.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

OPEN, RESOLVED, MUTED = "OPEN", "RESOLVED", "MUTED"


@dataclass(frozen=True)
class StatusChange:
    status: str
    event: str | None  # "REGRESSED", "UNMUTED" or None when nothing changed


def regressed(
    *,
    resolved_at: datetime | None,
    resolved_in_release: str | None,
    newest_received_by_release: Mapping[str, datetime],
) -> bool:
    """Whether events (the newest receive time of each release) reopen a resolved group."""
    if resolved_in_release is None:
        return resolved_at is None or any(
            received > resolved_at for received in newest_received_by_release.values()
        )
    return any(
        release and release != resolved_in_release
        and (resolved_at is None or received > resolved_at)
        for release, received in newest_received_by_release.items()
    )


def mute_lapsed(
    *, muted_until: datetime | None, muted_until_times_seen: int | None, times_seen: int,
    now: datetime,
) -> bool:
    if muted_until is not None and muted_until <= now:
        return True
    return muted_until_times_seen is not None and times_seen > muted_until_times_seen


def status_after_events(
    *,
    status: str,
    resolved_at: datetime | None,
    muted_until: datetime | None,
    newest_received_at: datetime,
    now: datetime,
    resolved_in_release: str | None = None,
    newest_received_by_release: Mapping[str, datetime] | None = None,
    muted_until_times_seen: int | None = None,
    times_seen: int = 0,
) -> StatusChange:
    """The status once the events are counted (times_seen includes them).

    newest_received_by_release defaults to all the events under one unknown release."""
    by_release = newest_received_by_release or {"": newest_received_at}
    if status == RESOLVED and regressed(
        resolved_at=resolved_at,
        resolved_in_release=resolved_in_release,
        newest_received_by_release=by_release,
    ):
        return StatusChange(OPEN, "REGRESSED")
    if status == MUTED and mute_lapsed(
        muted_until=muted_until,
        muted_until_times_seen=muted_until_times_seen,
        times_seen=times_seen,
        now=now,
    ):
        return StatusChange(OPEN, "UNMUTED")
    return StatusChange(status, None)
