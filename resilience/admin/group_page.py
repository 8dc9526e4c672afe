"""The group change page's triage panel: its buttons (each a POST to the triage view,
applied through resilience.groups.triage so it leaves a GroupHistory row) and what it
shows above the form: state, latest event's trace, top values, the link to all events."""

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.urls import reverse
from django.utils.safestring import SafeString

from resilience.digest.service import entry_frames
from resilience.groups.facets import FACET_SAMPLE, group_facets
from resilience.groups.triage import (
    error_group_assign,
    error_group_mute,
    error_group_mute_for_events,
    error_group_reopen,
    error_group_resolve,
)
from resilience.models import ErrorGroup

from .display import (
    EMPTY,
    SEVERITY_COLOURS,
    STATUS_COLOURS,
    admin_link,
    badge,
    frames_block,
    pre,
)
from .traces import handling_text

Status = ErrorGroup.Status

# (button value, label, the triage service's duration)
MUTE_BUTTONS = (
    ("mute_1h", "1 hour", "1h"),
    ("mute_24h", "24 hours", "24h"),
    ("mute_7d", "7 days", "7d"),
    ("mute_until_resolved", "Until resolved", "until_resolved"),
)
MUTE_EVENTS_MAX = 1_000_000


class BadTriage(ValueError):
    """A triage POST that cannot be applied; the message is shown to the operator."""


def entries_of_group_url(group_id: int) -> str:
    return reverse("admin:resilience_errorlogentry_changelist") + f"?group={group_id}"


def assignable_users():
    return get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")


def _resolve(group: ErrorGroup, request: HttpRequest) -> str:
    error_group_resolve(group=group, actor=request.user)
    return "Resolved"


def _resolve_next_release(group: ErrorGroup, request: HttpRequest) -> str:
    error_group_resolve(group=group, actor=request.user, in_next_release=True)
    return f"Resolved in the release after {group.resolved_in_release or '(none known)'}"


def _reopen(group: ErrorGroup, request: HttpRequest) -> str:
    error_group_reopen(group=group, actor=request.user)
    return "Reopened"


def _mute(duration: str, label: str) -> Callable[[ErrorGroup, HttpRequest], str]:
    def apply(group: ErrorGroup, request: HttpRequest) -> str:
        error_group_mute(group=group, actor=request.user, duration=duration)
        return f"Muted: {label.lower()}" if duration == "until_resolved" else f"Muted for {label}"

    return apply


def _mute_for_events(group: ErrorGroup, request: HttpRequest) -> str:
    try:
        events = int(request.POST.get("mute_events", ""))
    except ValueError:
        events = 0
    if not 1 <= events <= MUTE_EVENTS_MAX:
        raise BadTriage(f"Mute for a whole number of events from 1 to {MUTE_EVENTS_MAX:,}.")
    error_group_mute_for_events(group=group, actor=request.user, events=events)
    return f"Muted for {events} more event{'s' * (events != 1)}"


def _assign(group: ErrorGroup, request: HttpRequest) -> str:
    chosen = request.POST.get("assignee", "")
    if not chosen:
        error_group_assign(group=group, actor=request.user, assignee=None)
        return "Unassigned"
    assignee = assignable_users().filter(pk=chosen).first() if chosen.isdigit() else None
    if assignee is None:
        raise BadTriage("Assign to an active staff user.")
    error_group_assign(group=group, actor=request.user, assignee=assignee)
    return f"Assigned to {assignee.get_username()}"


def _assign_to_me(group: ErrorGroup, request: HttpRequest) -> str:
    error_group_assign(group=group, actor=request.user, assignee=request.user)
    return f"Assigned to {request.user.get_username()}"


TRIAGE: dict[str, Callable[[ErrorGroup, HttpRequest], str]] = {
    "resolve": _resolve,
    "resolve_next_release": _resolve_next_release,
    "reopen": _reopen,
    **{value: _mute(duration, label) for value, label, duration in MUTE_BUTTONS},
    "mute_events": _mute_for_events,
    "assign": _assign,
    "assign_me": _assign_to_me,
}


def triage(group: ErrorGroup, request: HttpRequest) -> str:
    """Apply the button pressed (`_triage`); returns what was done, for the message and
    the admin log."""
    apply = TRIAGE.get(request.POST.get("_triage", ""))
    if apply is None:
        raise BadTriage("Unknown triage action.")
    return apply(group, request)


def manual_intervention_badge() -> SafeString:
    return badge("MANUAL", "Needs manual intervention", {"MANUAL": "#6a1b9a"})


def state_text(group: ErrorGroup) -> str:
    """What keeps the group in its status, in words."""
    if group.status == Status.RESOLVED and group.resolved_in_release is not None:
        release = group.resolved_in_release or "(none known)"
        return f"until an event from a release other than {release}"
    if group.status == Status.MUTED:
        if group.muted_until is not None:
            return f"until {group.muted_until:%Y-%m-%d %H:%M} UTC"
        if group.muted_until_times_seen is not None:
            left = max(group.muted_until_times_seen - group.times_seen, 0)
            return f"for {left} more event{'s' * (left != 1)}"
        return "until resolved"
    return ""


def panel_context(group: ErrorGroup, *, can_triage: bool) -> dict[str, Any]:
    latest = group.entries.order_by("-id").first()
    trace = EMPTY
    if latest is not None:
        frames = entry_frames(latest)
        trace = frames_block(frames) if frames else pre(latest.stack_trace)
    return {
        "group": group,
        "can_triage": can_triage,
        "triage_url": reverse("admin:resilience_errorgroup_triage", args=[group.pk]),
        "mute_buttons": [(value, label) for value, label, _ in MUTE_BUTTONS],
        "assignees": list(assignable_users()) if can_triage else [],
        "status_badge": badge(group.status, group.get_status_display(), STATUS_COLOURS),
        "severity_badge": badge(group.severity, group.get_severity_display(), SEVERITY_COLOURS),
        "state_text": state_text(group),
        "manual_badge": manual_intervention_badge(),
        "latest": latest,
        "latest_link": admin_link(latest, f"event {latest.event_id}") if latest else EMPTY,
        "latest_trace": trace,
        "latest_message": latest.message[:500] if latest else "",
        "latest_handling": handling_text(latest.extra) if latest else "",
        "all_events_url": entries_of_group_url(group.pk),
        "facets": group_facets(group=group),
        "facet_sample": FACET_SAMPLE,
    }
