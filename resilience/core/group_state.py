"""What new events do to a group's status (pure: no Django).

A resolved group that sees an event received after it was resolved is a regression and
reopens. Resolved "in next release" (Sentry's semantics) it reopens only for such an event
from another release than the one current at resolution; an event without a release cannot
say it is newer and keeps it resolved. A mute with an end time lapses once that time has
passed; a mute for N more events lapses once times_seen passes the count it was muted at
plus N; a mute with neither ("until resolved") holds whatever arrives.

Where a group was seen (its environments, its recent releases) is a bounded set of names,
each with the first and last time an event named it: seen_merge says what a batch of
events changes in it.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
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


# --- where a group was seen ------------------------------------------------------------

Span = tuple[datetime, datetime]  # (first seen, last seen)


def widen(span: Span | None, first: datetime, last: datetime) -> Span:
    if span is None:
        return (first, last)
    return (min(span[0], first), max(span[1], last))


@dataclass(frozen=True)
class SeenChange:
    """What to store: names to insert or update with their whole span, names to drop."""

    write: dict[str, Span] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)


def seen_merge(
    *, known: Mapping[str, Span], batch: Mapping[str, Span], limit: int, keep_recent: bool
) -> SeenChange:
    """A batch's names merged into a group's stored set of at most `limit` names.

    keep_recent=False (environments): a full set keeps the names it has and a new one is
    not recorded. keep_recent=True (releases): the `limit` most recently seen names stay,
    and the oldest leave to make room.
    """
    merged = dict(known)
    for name, (first, last) in batch.items():
        merged[name] = widen(merged.get(name), first, last)
    if keep_recent:
        by_recency = sorted(merged, key=lambda name: (merged[name][1], name), reverse=True)
        kept = set(by_recency[:limit])
    else:
        # New names in the order they were first seen, while there is room.
        new = sorted((n for n in batch if n not in known), key=lambda n: (batch[n][0], n))
        kept = set(known) | set(new[: max(limit - len(known), 0)])
    return SeenChange(
        write={name: merged[name] for name in batch if name in kept},
        drop=sorted(name for name in known if name not in kept),
    )


def first_and_last(spans: Mapping[str, Span]) -> tuple[str, str]:
    """The name seen first and the name seen last ("" for both when there are none)."""
    if not spans:
        return "", ""
    first = min(spans, key=lambda name: (spans[name][0], name))
    last = max(spans, key=lambda name: (spans[name][1], name))
    return first, last
