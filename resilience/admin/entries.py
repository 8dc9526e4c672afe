"""Error log entries: a read-only record, built to stay fast at millions of rows."""

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from resilience.admin.paginators import EstimatedCountPaginator
from resilience.attachments.selectors import attachments_of_event
from resilience.digest.quarantine import entry_quarantine_release, quarantined_entries
from resilience.feedback.selectors import feedback_of_event
from resilience.models import ErrorLogEntry, ErrorMetric

from .base import ReadOnlyAdmin
from .display import (
    EMPTY,
    SEVERITY_COLOURS,
    badge,
    fill_cell,
    pre,
    pretty_json,
    truncated,
)
from .filters import (
    DISTINCT_VALUES_CAP,
    CampaignFilter,
    GroupIdFilter,
    TimeRangeFilter,
    is_event_id,
)
from .group_page import entries_of_group_url
from .sentry import sentry_summary
from .sentry_items import attachments_table, feedback_table
from .traces import exceptions_block, handling_text

RELEASE_MAX = 10_000


class QuarantineFilter(admin.SimpleListFilter):
    """Entries the digest set aside: all of them, or those with one reason (the reasons
    are listed with their counts, most frequent first)."""

    title = "quarantine"
    parameter_name = "quarantine"
    REASON = "reason:"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        reasons = list(
            quarantined_entries().order_by().values("quarantine_reason")
            .annotate(n=Count("id")).order_by("-n", "quarantine_reason")[:DISTINCT_VALUES_CAP]
        )
        choices = [("yes", "Quarantined"), ("no", "Not quarantined")]
        for row in reasons:
            reason = row["quarantine_reason"] or "(no reason recorded)"
            label = reason if len(reason) <= 100 else reason[:99] + "…"
            choices.append((self.REASON + row["quarantine_reason"], f"{label} ({row['n']})"))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "yes":
            return queryset.filter(quarantined_at__isnull=False)
        if value == "no":
            return queryset.filter(quarantined_at=None)
        if value and value.startswith(self.REASON):
            return queryset.filter(
                quarantined_at__isnull=False, quarantine_reason=value.removeprefix(self.REASON)
            )
        return queryset


@admin.register(ErrorLogEntry)
class ErrorLogEntryAdmin(ReadOnlyAdmin):
    # What fits at 1,280 px beside the filters: message, code and operation above all.
    # The campaign and quarantine columns join when their filter is in use.
    list_display = (
        "when",
        "severity_badge",
        "code_cell",
        "message_line",
        "operation_cell",
    )
    list_display_links = ("when",)
    list_filter = (
        TimeRangeFilter,
        CampaignFilter,
        GroupIdFilter,
        QuarantineFilter,
        "category",
        "severity",
        "service",
        "strategy",
    )
    actions = ("release_from_quarantine",)
    search_fields = ("=event_id", "message", "code")
    search_help_text = "Exact event id, or words in the message or code."

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        shown = self.list_display
        if request.GET.get(CampaignFilter.parameter_name):
            shown += ("campaign_id",)
        if request.GET.get(QuarantineFilter.parameter_name):
            shown += ("digested", "quarantine")
        return shown

    def get_search_results(self, request, queryset, search_term):
        # An id-shaped term is looked up by the unique index alone: OR-ing it with
        # `message ILIKE` would scan every entry (2.3 s at a million rows).
        term = search_term.strip()
        if is_event_id(term):
            return queryset.filter(event_id=term), False
        return super().get_search_results(request, queryset, search_term)

    ordering = ("-id",)
    # No full COUNT(*) per page: the paginator estimates or caps it, and these are off.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    date_hierarchy = None  # its year/month/day links run aggregate queries over the table

    class Media:
        js = ("trace/trace.js",)  # the exceptions' "Show all frames" button

    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("event_id", "source"),
                    ("service", "group"),
                    ("timestamp", "received_at", "digested_at"),
                    ("quarantined_at", "quarantine_reason"),
                    ("environment", "release"),
                    ("operation", "component"),
                    ("campaign_id", "timer_id", "user_id"),
                )
            },
        ),
        (
            "Error",
            {
                "fields": (
                    ("name", "code", "http_status", "errno"),
                    "handling",
                    "message_block",
                    "exceptions",
                    "stack_trace_block",
                    "cause_block",
                )
            },
        ),
        (
            "Decision",
            {
                "fields": (
                    ("category", "severity"),
                    ("retryable", "recoverable"),
                    ("strategy", "retry_after_ms", "attempt_count"),
                    ("outcome", "outcome_at"),
                    "classification_block",
                )
            },
        ),
        (
            "Data",
            {
                "fields": (
                    "sentry_block",
                    "attachments_block",
                    "feedback_block",
                    "context_block",
                    "payload_block",
                    "extra_block",
                    "fingerprint_block",
                )
            },
        ),
    )

    @admin.display(description="Timestamp", ordering="timestamp")
    def when(self, obj: ErrorLogEntry) -> SafeString:
        moment = timezone.localtime(obj.timestamp)
        return format_html(
            '<span title="{} · event {}">{}</span>',
            moment.strftime("%Y-%m-%d %H:%M:%S %Z"),
            obj.event_id,
            moment.strftime("%Y-%m-%d %H:%M"),
        )

    @admin.display(description="Code / name", ordering="code")
    def code_cell(self, obj: ErrorLogEntry) -> SafeString | str:
        return truncated(obj.code or obj.name, "8em")

    @admin.display(description="Operation", ordering="operation")
    def operation_cell(self, obj: ErrorLogEntry) -> SafeString | str:
        return truncated(obj.operation, "8em")

    @admin.display(description="Severity", ordering="severity")
    def severity_badge(self, obj: ErrorLogEntry) -> SafeString:
        return badge(obj.severity, obj.get_severity_display(), SEVERITY_COLOURS)

    @admin.display(description="Message")
    def message_line(self, obj: ErrorLogEntry) -> SafeString | str:
        return fill_cell(obj.message[:300])

    @admin.display(description="Digested", boolean=True)
    def digested(self, obj: ErrorLogEntry) -> bool:
        return obj.digested_at is not None

    @admin.display(description="Quarantine")
    def quarantine(self, obj: ErrorLogEntry) -> str:
        if obj.quarantined_at is None:
            return EMPTY
        reason = obj.quarantine_reason
        return reason if len(reason) <= 80 else reason[:79] + "…"

    def has_release_permission(self, request: HttpRequest) -> bool:
        # Releasing is triage: whoever may resolve and reopen groups may retry an entry.
        return request.user.has_perm("resilience.triage_errorgroup")

    @admin.action(description="Release from quarantine (digest again)", permissions=["release"])
    def release_from_quarantine(self, request: HttpRequest, queryset: QuerySet) -> None:
        # Bounded, so "select all" over millions of entries stays one small statement.
        ids = list(
            queryset.filter(quarantined_at__isnull=False).order_by("id")
            .values_list("id", flat=True)[:RELEASE_MAX]
        )
        released = entry_quarantine_release(entry_ids=ids, actor=request.user)
        if not released:
            self.message_user(request, "None of the selected entries is quarantined.",
                              messages.WARNING)
            return
        text = f"Released {released} entr{'y' if released == 1 else 'ies'} to the digest"
        if released == RELEASE_MAX:
            text += f" (at most {RELEASE_MAX:,} at a time: run it again for the rest)"
        self.message_user(request, text + ".", messages.SUCCESS)

    @admin.display(description="Message")
    def message_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return pre(obj.message)

    @admin.display(description="Handled")
    def handling(self, obj: ErrorLogEntry) -> str:
        return handling_text(obj.extra) or EMPTY

    @admin.display(description="Exceptions")
    def exceptions(self, obj: ErrorLogEntry) -> SafeString | str:
        return exceptions_block(obj.extra)

    @admin.display(description="Stack trace")
    def stack_trace_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return pre(obj.stack_trace)

    @admin.display(description="Cause")
    def cause_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return pretty_json(obj.cause)

    @admin.display(description="Classification")
    def classification_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return pretty_json(obj.classification)

    @admin.display(description="Context")
    def context_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return pretty_json(obj.context)

    @admin.display(description="Payload")
    def payload_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return pretty_json(obj.payload)

    @admin.display(description="Extra (tags, user, request)")
    def extra_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return pretty_json(obj.extra)

    @admin.display(description="Sentry SDK")
    def sentry_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return sentry_summary(obj.extra)

    @admin.display(description="Attachments")
    def attachments_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return attachments_table(attachments_of_event(service_id=obj.service_id,
                                                      event_id=obj.event_id))

    @admin.display(description="User feedback")
    def feedback_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return feedback_table(feedback_of_event(service_id=obj.service_id,
                                                event_id=obj.event_id))

    @admin.display(description="Reporter's fingerprint")
    def fingerprint_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return pretty_json(obj.fingerprint)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None):
        entry = self.get_object(request, object_id)
        context = {**(extra_context or {}), **self._group_navigation(entry)}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _group_navigation(self, entry: ErrorLogEntry | None) -> dict:
        """Links to the group's previous and next events (by id, on entry_in_group_recent)."""
        if entry is None or entry.group_id is None:
            return {}
        siblings = ErrorLogEntry.objects.filter(group_id=entry.group_id)
        older = siblings.filter(id__lt=entry.pk).order_by("-id").values_list("id", flat=True)
        newer = siblings.filter(id__gt=entry.pk).order_by("id").values_list("id", flat=True)
        return {
            "group_nav": {
                "group": entry.group,
                "older": older.first(),
                "newer": newer.first(),
                "all_events_url": entries_of_group_url(entry.group_id),
            }
        }

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        # Nobody can change an entry, but list every field so the view page renders them all.
        return tuple(
            name
            for fieldset in self.fieldsets
            for line in fieldset[1]["fields"]
            for name in (line if isinstance(line, tuple) else (line,))
        )


@admin.register(ErrorMetric)
class ErrorMetricAdmin(ReadOnlyAdmin):
    """Hourly rollups, read-only: what the dashboard reads."""

    list_display = (
        "bucket",
        "service",
        "group",
        "category",
        "severity",
        "code",
        "strategy",
        "count",
    )
    list_filter = ("category", "severity", "strategy", "service")
    list_select_related = ("service", "group")
    ordering = ("-bucket",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
