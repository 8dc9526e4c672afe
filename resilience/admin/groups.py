"""Error groups: where operators triage. Every state change goes through
resilience.groups.triage, so it leaves a GroupHistory row, and is also logged to the
admin's LogEntry so the object history shows who did it and when. The change page's
triage panel (buttons, latest trace, top values) is built in group_page.py."""

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from resilience.admin.base import ReadOnlyTabularInline
from resilience.admin.paginators import EstimatedCountPaginator
from resilience.feedback.selectors import GROUP_FEEDBACK_SHOWN, feedback_of_group
from resilience.groups.triage import (
    error_group_assign,
    error_group_mute,
    error_group_reopen,
    error_group_resolve,
)
from resilience.models import ErrorGroup, ErrorLogEntry, GroupHistory

from .base import ReadOnlyAdmin
from .display import (
    EMPTY,
    SEVERITY_COLOURS,
    STATUS_COLOURS,
    admin_link,
    ago,
    badge,
    fill_cell,
    pre,
    pretty_json,
)
from .filters import (
    GroupStatusFilter,
    HandledFilter,
    SeenEnvironmentFilter,
    SeenReleaseFilter,
    distinct_values_filter,
    is_event_id,
)
from .group_page import BadTriage, manual_intervention_badge, panel_context, triage
from .sentry import sentry_summary
from .sentry_items import feedback_table

TRIAGE_PERMISSION = "resilience.triage_errorgroup"
RECENT_OCCURRENCES = 20

Status = ErrorGroup.Status


class GroupHistoryInline(ReadOnlyTabularInline):
    model = GroupHistory
    fields = ("at", "action", "actor", "via", "detail")
    readonly_fields = fields
    ordering = ("-at", "-id")
    verbose_name_plural = "history"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("actor")


def _triage_action(
    description: str, apply: Callable[[ErrorGroup, HttpRequest], bool]
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet], None]:
    """Build an admin action: `apply` calls a service and returns False when it skipped."""

    @admin.action(description=description, permissions=["triage"])
    def action(modeladmin: "ErrorGroupAdmin", request: HttpRequest, queryset: QuerySet) -> None:
        changed = 0
        for group in queryset:
            if apply(group, request):
                modeladmin.log_change(request, group, f"{description} (admin action)")
                changed += 1
        skipped = len(queryset) - changed
        text = f"{description}: {changed} group{'s' if changed != 1 else ''}"
        if skipped:
            text += f" ({skipped} already in that state)"
        modeladmin.message_user(request, text, messages.SUCCESS)

    action.__name__ = description.lower().replace(" ", "_")
    return action


def _resolve(group: ErrorGroup, request: HttpRequest) -> bool:
    if group.status == Status.RESOLVED:
        return False
    error_group_resolve(group=group, actor=request.user)
    return True


def _reopen(group: ErrorGroup, request: HttpRequest) -> bool:
    if group.status == Status.OPEN:
        return False
    error_group_reopen(group=group, actor=request.user)
    return True


def _mute(duration: str) -> Callable[[ErrorGroup, HttpRequest], bool]:
    def apply(group: ErrorGroup, request: HttpRequest) -> bool:
        # Muting again is not a no-op: it moves the end of the mute.
        error_group_mute(group=group, actor=request.user, duration=duration)
        return True

    return apply


def _assign_to_me(group: ErrorGroup, request: HttpRequest) -> bool:
    if group.assignee_id == request.user.pk:
        return False
    error_group_assign(group=group, actor=request.user, assignee=request.user)
    return True


@admin.register(ErrorGroup)
class ErrorGroupAdmin(admin.ModelAdmin):
    # The key columns fit at 1,280 px beside the filters; long titles end in an ellipsis.
    list_display = (
        "title_cell",
        "severity_badge",
        "status_badge",
        "times_seen",
        "last_seen_ago",
        "assignee",
    )
    list_display_links = ("title_cell",)
    list_filter = (
        GroupStatusFilter,
        HandledFilter,
        "severity",
        "category",
        "service",
        SeenEnvironmentFilter,
        SeenReleaseFilter,
        "needs_manual_intervention",
        distinct_values_filter("operation", "operation"),
        ("assignee", admin.RelatedOnlyFieldListFilter),
        "last_seen",
    )
    search_fields = ("title", "code", "name", "culprit", "operation")
    search_help_text = "An event id, or words in the title (message), code, type or operation."
    ordering = ("-last_seen",)
    list_select_related = ("service", "assignee")
    # Groups are far fewer than entries, but a busy install still has many: count cheaply.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    actions = (
        _triage_action("Resolve", _resolve),
        _triage_action("Reopen", _reopen),
        _triage_action("Mute for 1 hour", _mute("1h")),
        _triage_action("Mute for 24 hours", _mute("24h")),
        _triage_action("Mute until resolved", _mute("until_resolved")),
        _triage_action("Assign to me", _assign_to_me),
    )
    inlines = (GroupHistoryInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "title",
                    ("status", "severity", "category", "unhandled"),
                    "needs_manual_intervention",
                    ("service", "environment"),
                    ("first_release", "last_release"),
                    "operation",
                    ("name", "code"),
                    "culprit",
                    "fingerprint",
                )
            },
        ),
        (
            "Triage",
            {"fields": ("assignee", ("resolved_at", "resolved_by"), "muted_until")},
        ),
        (
            "Counts",
            {"fields": (("times_seen", "regression_count"), ("first_seen", "last_seen"))},
        ),
        (
            "Latest occurrence",
            {
                "fields": (
                    "latest_entry",
                    "latest_message",
                    "latest_stack_trace",
                    "latest_context",
                    "latest_payload",
                    "latest_sentry",
                    "latest_extra",
                )
            },
        ),
        ("Recent occurrences", {"fields": ("recent_occurrences",)}),
        ("User feedback", {"fields": ("user_feedback",)}),
    )
    display_fields = (
        "latest_entry",
        "latest_message",
        "latest_stack_trace",
        "latest_context",
        "latest_payload",
        "latest_sentry",
        "latest_extra",
        "recent_occurrences",
        "user_feedback",
    )

    # --- the list ------------------------------------------------------------------------

    @admin.display(description="Title", ordering="title")
    def title_cell(self, obj: ErrorGroup) -> SafeString | str:
        return fill_cell(obj.title)

    @admin.display(description="Last seen", ordering="last_seen")
    def last_seen_ago(self, obj: ErrorGroup) -> SafeString:
        return ago(obj.last_seen)

    @admin.display(description="Severity", ordering="severity")
    def severity_badge(self, obj: ErrorGroup) -> SafeString:
        return badge(obj.severity, obj.get_severity_display(), SEVERITY_COLOURS)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: ErrorGroup) -> SafeString:
        # In the status cell, so the list keeps its width: rarely there, and it must show.
        status = badge(obj.status, obj.get_status_display(), STATUS_COLOURS)
        if obj.needs_manual_intervention:
            return format_html("{} {}", status, manual_intervention_badge())
        return status

    def get_search_results(self, request, queryset, search_term):
        # An event id names one entry, and through it one group: looked up by the entries'
        # event id alone, never OR-ed with text matches over the groups.
        term = search_term.strip()
        if is_event_id(term):
            groups = ErrorLogEntry.objects.filter(event_id=term).values("group_id")
            return queryset.filter(id__in=groups), False
        return super().get_search_results(request, queryset, search_term)

    # --- the change page's triage buttons ----------------------------------------------

    def get_urls(self):
        triage_url = path(
            "<path:object_id>/triage/",
            self.admin_site.admin_view(require_POST(self.triage_view)),
            name="resilience_errorgroup_triage",
        )
        return [triage_url, *super().get_urls()]

    def triage_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        if not self.has_triage_permission(request):
            raise PermissionDenied
        group = self.get_object(request, object_id)
        if group is None:
            raise Http404("No such error group.")
        try:
            done = triage(group, request)
        except BadTriage as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.log_change(request, group, f"{done} (triage button)")
            self.message_user(request, f"{done}.", messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:resilience_errorgroup_change", args=[group.pk])
        )

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None):
        group = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if group is not None:
            can_triage = self.has_triage_permission(request)
            context["triage_panel"] = panel_context(group, can_triage=can_triage)
        return super().change_view(request, object_id, form_url, extra_context=context)

    # --- permissions -------------------------------------------------------------------

    def has_triage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(TRIAGE_PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # groups are made by the digest, never by hand

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        # An operator edits nothing but the assignee, and only with the triage permission.
        model_fields = [f.name for f in ErrorGroup._meta.concrete_fields if f.name != "id"]
        if not self.has_triage_permission(request):
            return [*model_fields, *self.display_fields]
        return [name for name in model_fields if name != "assignee"] + list(self.display_fields)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "assignee":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: ErrorGroup, form, change: bool) -> None:
        # The only editable field is the assignee; the service records who assigned whom.
        if change and "assignee" in form.changed_data:
            error_group_assign(group=obj, actor=request.user, assignee=obj.assignee)

    # --- the latest occurrence, readably -----------------------------------------------

    def _latest(self, obj: ErrorGroup) -> ErrorLogEntry | None:
        # Each display field asks for it; load it once per page.
        if not hasattr(obj, "_latest_entry"):
            obj._latest_entry = obj.entries.order_by("-id").first()
        return obj._latest_entry

    @admin.display(description="Entry")
    def latest_entry(self, obj: ErrorGroup) -> SafeString | str:
        entry = self._latest(obj)
        if entry is None:
            return EMPTY
        return format_html(
            "{} · event {} · {}",
            admin_link(entry, f"#{entry.pk}"),
            entry.event_id,
            entry.timestamp.strftime("%Y-%m-%d %H:%M:%S %Z"),
        )

    @admin.display(description="Message")
    def latest_message(self, obj: ErrorGroup) -> SafeString | str:
        entry = self._latest(obj)
        return pre(entry.message) if entry else EMPTY

    @admin.display(description="Stack trace")
    def latest_stack_trace(self, obj: ErrorGroup) -> SafeString | str:
        entry = self._latest(obj)
        return pre(entry.stack_trace) if entry else EMPTY

    @admin.display(description="Context")
    def latest_context(self, obj: ErrorGroup) -> SafeString | str:
        entry = self._latest(obj)
        return pretty_json(entry.context) if entry else EMPTY

    @admin.display(description="Payload")
    def latest_payload(self, obj: ErrorGroup) -> SafeString | str:
        entry = self._latest(obj)
        return pretty_json(entry.payload) if entry else EMPTY

    @admin.display(description="Sentry SDK")
    def latest_sentry(self, obj: ErrorGroup) -> SafeString | str:
        entry = self._latest(obj)
        return sentry_summary(entry.extra) if entry else EMPTY

    @admin.display(description="Extra (tags, user, request)")
    def latest_extra(self, obj: ErrorGroup) -> SafeString | str:
        entry = self._latest(obj)
        return pretty_json(entry.extra) if entry else EMPTY

    @admin.display(description=f"Newest {GROUP_FEEDBACK_SHOWN}")
    def user_feedback(self, obj: ErrorGroup) -> SafeString | str:
        return feedback_table(feedback_of_group(obj), with_event=True)

    @admin.display(description=f"Last {RECENT_OCCURRENCES}")
    def recent_occurrences(self, obj: ErrorGroup) -> SafeString | str:
        entries = obj.entries.order_by("-id")[:RECENT_OCCURRENCES]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    admin_link(entry, f"#{entry.pk}"),
                    entry.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
                    entry.get_strategy_display(),
                    entry.environment or EMPTY,
                    entry.message[:200] or EMPTY,
                )
                for entry in entries
            ),
        )
        if not rows:
            return EMPTY
        return format_html(
            "<table><thead><tr><th>Entry</th><th>Timestamp</th><th>Strategy</th>"
            "<th>Environment</th><th>Message</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(GroupHistory)
class GroupHistoryAdmin(ReadOnlyAdmin):
    list_display = ("at", "group", "action", "actor", "via", "detail")
    list_filter = ("action", "via")
    list_select_related = ("group", "actor")
    search_fields = ("group__title", "detail")
    ordering = ("-at", "-id")
