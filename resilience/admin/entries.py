"""Error log entries: a read-only record, built to stay fast at millions of rows."""

import re

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from resilience.models import ErrorLogEntry, ErrorMetric
from resilience.paginators import EstimatedCountPaginator

from .base import ReadOnlyAdmin
from .display import EMPTY, admin_link, pre, pretty_json
from .filters import CampaignFilter, TimeRangeFilter
from .sentry import sentry_summary

# 32+ hex characters or a UUID: what Sentry SDKs and Faultline itself use as event ids.
EVENT_ID_SHAPE = re.compile(
    r"[0-9a-fA-F]{32,64}|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
)


@admin.register(ErrorLogEntry)
class ErrorLogEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "event_id",
        "timestamp",
        "service",
        "category",
        "severity",
        "strategy",
        "code_or_name",
        "operation",
        "campaign_id",
        "group_link",
        "digested",
    )
    list_filter = (
        TimeRangeFilter,
        CampaignFilter,
        "category",
        "severity",
        "service",
        "strategy",
    )
    search_fields = ("=event_id", "message", "code")
    search_help_text = "Exact event id, or words in the message or code."

    def get_search_results(self, request, queryset, search_term):
        # An id-shaped term is looked up by the unique index alone: OR-ing it with
        # `message ILIKE` would scan every entry (2.3 s at a million rows).
        term = search_term.strip()
        if EVENT_ID_SHAPE.fullmatch(term):
            return queryset.filter(event_id=term), False
        return super().get_search_results(request, queryset, search_term)
    list_select_related = ("service", "group")
    ordering = ("-id",)
    # No full COUNT(*) per page: the paginator estimates or caps it, and these are off.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    date_hierarchy = None  # its year/month/day links run aggregate queries over the table

    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("event_id", "source"),
                    ("service", "group"),
                    ("timestamp", "received_at", "digested_at"),
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
                    "message_block",
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
                    "context_block",
                    "payload_block",
                    "extra_block",
                    "fingerprint_block",
                )
            },
        ),
    )

    @admin.display(description="Code / name")
    def code_or_name(self, obj: ErrorLogEntry) -> str:
        return obj.code or obj.name or EMPTY

    @admin.display(description="Group")
    def group_link(self, obj: ErrorLogEntry) -> SafeString | str:
        return admin_link(obj.group)

    @admin.display(description="Digested", boolean=True)
    def digested(self, obj: ErrorLogEntry) -> bool:
        return obj.digested_at is not None

    @admin.display(description="Message")
    def message_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return pre(obj.message)

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

    @admin.display(description="Reporter's fingerprint")
    def fingerprint_block(self, obj: ErrorLogEntry) -> SafeString | str:
        return pretty_json(obj.fingerprint)

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
