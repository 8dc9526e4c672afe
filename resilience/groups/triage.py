"""Triage of error groups: resolve, reopen, mute, assign. Each leaves a GroupHistory row.

What later events do to the state set here (a regression, a mute lapsing) is decided in
resilience/core/group_state.py and applied by the digest."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from resilience.models import ErrorGroup, GroupHistory

Status = ErrorGroup.Status
Action = GroupHistory.Action

# The mute choices offered to operators; None means "until resolved".
MUTE_DURATIONS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "until_resolved": None,
}
MUTE_FIELDS = ("muted_until", "muted_until_times_seen")


def _record(group: ErrorGroup, action: str, actor, via: str, detail: str = "") -> GroupHistory:
    return GroupHistory.objects.create(
        group=group, action=action, actor=actor, via=via, detail=detail[:255]
    )


def _clear_mute(group: ErrorGroup) -> None:
    group.muted_until = None
    group.muted_until_times_seen = None


def _latest_release(group: ErrorGroup) -> str:
    # The release of its newest event (entry_in_group_recent index); none known is "".
    release = group.entries.order_by("-id").values_list("release", flat=True).first()
    return release or ""


@transaction.atomic
def error_group_resolve(
    *,
    group: ErrorGroup,
    actor: AbstractBaseUser,
    via: str = "admin",
    now: datetime | None = None,
    in_next_release: bool = False,
) -> ErrorGroup:
    """Resolve; `in_next_release` keeps it resolved until an event from another release
    than the one its latest event came from."""
    now = now or timezone.now()
    group.status = Status.RESOLVED
    group.resolved_at = now
    group.resolved_by = actor
    group.resolved_in_release = _latest_release(group) if in_next_release else None
    # Resolving says someone has dealt with it; a later unreplayable failure marks it again.
    group.needs_manual_intervention = False
    _clear_mute(group)
    group.save(update_fields=["status", "resolved_at", "resolved_by", "resolved_in_release",
                              "needs_manual_intervention", *MUTE_FIELDS])
    detail = ""
    if in_next_release:
        detail = f"in the release after {group.resolved_in_release or '(none known)'}"
    _record(group, Action.RESOLVED, actor, via, detail)
    return group


@transaction.atomic
def error_group_reopen(
    *, group: ErrorGroup, actor: AbstractBaseUser, via: str = "admin"
) -> ErrorGroup:
    group.status = Status.OPEN
    group.resolved_at = None
    group.resolved_by = None
    group.resolved_in_release = None
    _clear_mute(group)
    group.save(update_fields=["status", "resolved_at", "resolved_by", "resolved_in_release",
                              *MUTE_FIELDS])
    _record(group, Action.REOPENED, actor, via)
    return group


@transaction.atomic
def error_group_mute(
    *,
    group: ErrorGroup,
    actor: AbstractBaseUser,
    duration: str,
    via: str = "admin",
    now: datetime | None = None,
) -> ErrorGroup:
    if duration not in MUTE_DURATIONS:
        raise ValueError(
            f"unknown mute duration {duration!r}; use one of {', '.join(MUTE_DURATIONS)}"
        )
    span = MUTE_DURATIONS[duration]
    now = now or timezone.now()
    group.status = Status.MUTED
    group.muted_until = now + span if span else None
    group.muted_until_times_seen = None
    group.save(update_fields=["status", *MUTE_FIELDS])
    until = f"until {group.muted_until:%Y-%m-%d %H:%M} UTC" if span else "until resolved"
    _record(group, Action.MUTED, actor, via, until)
    return group


@transaction.atomic
def error_group_mute_for_events(
    *, group: ErrorGroup, actor: AbstractBaseUser, events: int, via: str = "admin"
) -> ErrorGroup:
    """Mute for the next `events` events: the one after them unmutes the group."""
    if events < 1:
        raise ValueError("mute for at least one event")
    group.refresh_from_db(fields=["times_seen"])  # the count now, not when the page was read
    group.status = Status.MUTED
    group.muted_until = None
    group.muted_until_times_seen = group.times_seen + events
    group.save(update_fields=["status", *MUTE_FIELDS])
    _record(group, Action.MUTED, actor, via, f"for {events} more event{'s' * (events != 1)}")
    return group


@transaction.atomic
def error_group_assign(
    *, group: ErrorGroup, actor: AbstractBaseUser, assignee, via: str = "admin"
) -> ErrorGroup:
    group.assignee = assignee
    group.save(update_fields=["assignee"])
    if assignee is None:
        _record(group, Action.UNASSIGNED, actor, via)
    else:
        _record(group, Action.ASSIGNED, actor, via, f"to {assignee.get_username()}")
    return group
