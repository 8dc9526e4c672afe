"""Triage of error groups: resolve, reopen, mute, assign. Each leaves a GroupHistory row."""

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
    "until_resolved": None,
}


def _record(group: ErrorGroup, action: str, actor, via: str, detail: str = "") -> GroupHistory:
    return GroupHistory.objects.create(
        group=group, action=action, actor=actor, via=via, detail=detail[:255]
    )


@transaction.atomic
def error_group_resolve(
    *, group: ErrorGroup, actor: AbstractBaseUser, via: str = "admin", now: datetime | None = None
) -> ErrorGroup:
    now = now or timezone.now()
    group.status = Status.RESOLVED
    group.resolved_at = now
    group.resolved_by = actor
    group.muted_until = None
    group.save(update_fields=["status", "resolved_at", "resolved_by", "muted_until"])
    _record(group, Action.RESOLVED, actor, via)
    return group


@transaction.atomic
def error_group_reopen(
    *, group: ErrorGroup, actor: AbstractBaseUser, via: str = "admin"
) -> ErrorGroup:
    group.status = Status.OPEN
    group.resolved_at = None
    group.resolved_by = None
    group.muted_until = None
    group.save(update_fields=["status", "resolved_at", "resolved_by", "muted_until"])
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
    group.save(update_fields=["status", "muted_until"])
    until = f"until {group.muted_until:%Y-%m-%d %H:%M} UTC" if span else "until resolved"
    _record(group, Action.MUTED, actor, via, until)
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
