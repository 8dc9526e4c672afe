"""Changelist filters that stay cheap on large tables."""

import re
from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from resilience.core.time_ranges import label as range_label
from resilience.groups.selectors import RANGES, groups_seen_in
from resilience.models import GroupEnvironment

# Distinct-value filters list at most this many values, so a field with thousands of
# distinct operations does not turn the sidebar into a wall (or the query into a scan).
DISTINCT_VALUES_CAP = 50

# 32+ hex characters or a UUID: what Sentry SDKs and Faultline itself use as event ids.
EVENT_ID_SHAPE = re.compile(
    r"[0-9a-fA-F]{32,64}|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
)


def is_event_id(term: str) -> bool:
    return EVENT_ID_SHAPE.fullmatch(term.strip()) is not None


class DistinctValuesFilter(admin.SimpleListFilter):
    """Filter on the distinct non-empty values of one field, capped at DISTINCT_VALUES_CAP."""

    field_name: str = ""

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        values = (
            model_admin.model.objects.exclude(**{self.field_name: ""})
            .order_by(self.field_name)
            .values_list(self.field_name, flat=True)
            .distinct()[:DISTINCT_VALUES_CAP]
        )
        return [(value, value) for value in values]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(**{self.field_name: self.value()})
        return queryset


def distinct_values_filter(field_name: str, title: str) -> type[DistinctValuesFilter]:
    return type(
        f"{field_name.title()}Filter",
        (DistinctValuesFilter,),
        {"field_name": field_name, "parameter_name": field_name, "title": title},
    )


# Each choice is (parameter value, label, look-back span), from the one table of ranges.
TIME_RANGES: list[tuple[str, str, timedelta]] = [
    (value, range_label(value), span) for value, span in RANGES.items()
]


class TimeRangeFilter(admin.SimpleListFilter):
    """Entries whose timestamp falls in the last 15m … 30d (uses the timestamp indexes)."""

    title = "time range"
    parameter_name = "range"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(value, label) for value, label, _ in TIME_RANGES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        spans = {value: span for value, _, span in TIME_RANGES}
        span = spans.get(self.value() or "")
        if span is None:
            return queryset
        return queryset.filter(timestamp__gte=timezone.now() - span)


class TextInputFilter(admin.SimpleListFilter):
    """A filter with a free-text box instead of a list of links (e.g. a campaign id)."""

    template = "admin/resilience/text_input_filter.html"
    field_name: str = ""

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return []

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = (self.value() or "").strip()
        if value:
            return queryset.filter(**{self.field_name: value})
        return queryset

    def choices(self, changelist: Any):
        # The filter template gets no changelist, so hand it the other parameters here:
        # submitting the box must keep the filters already applied.
        others = [
            (name, value)
            for name, values in changelist.filter_params.items()
            if name != self.parameter_name
            for value in values
        ]
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value() or "",
            "others": others,
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
        }


class CampaignFilter(TextInputFilter):
    title = "campaign id"
    parameter_name = "campaign_id"
    field_name = "campaign_id"


class HandledFilter(admin.SimpleListFilter):
    """Groups with an event the application did not handle (a crash, an unhandled
    rejection: the Sentry SDK's mechanism.handled false), or only handled ones."""

    title = "handled"
    parameter_name = "unhandled"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("1", "Unhandled"), ("0", "Handled only")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("0", "1"):
            return queryset.filter(unhandled=self.value() == "1")
        return queryset


class GroupStatusFilter(admin.SimpleListFilter):
    """Opens on the unresolved (open, regressions included) groups, like Sentry's default
    view; "All" shows every status. Its parameter is the one the plain status filter had,
    so old links keep working. A search by event id looks across every status: that event
    names one group, whatever state it is in."""

    title = "status"
    parameter_name = "status__exact"
    ALL = "all"
    UNRESOLVED = "OPEN"

    def __init__(self, request: HttpRequest, params, model, model_admin) -> None:
        super().__init__(request, params, model, model_admin)
        self.search_term = request.GET.get("q", "")

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("MUTED", "Muted"), ("RESOLVED", "Resolved"), (self.ALL, "All")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == self.ALL:
            return queryset
        if value is None:
            if is_event_id(self.search_term):
                return queryset
            value = self.UNRESOLVED
        return queryset.filter(status=value)

    def choices(self, changelist: Any):
        value = self.value()
        yield {
            "selected": value in (None, self.UNRESOLVED),
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Unresolved",
        }
        for lookup, label in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": label,
            }


class GroupIdFilter(TextInputFilter):
    """The events of one group (the group page's "All N events" link)."""

    title = "group id"
    parameter_name = "group"

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = (self.value() or "").strip()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(group_id=int(value))


class SeenEnvironmentFilter(admin.SimpleListFilter):
    """Groups with an event from this environment, whichever came first (a group's own
    `environment` is its first event's)."""

    title = "environment"
    parameter_name = "environment"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        names = (
            GroupEnvironment.objects.order_by("name").values_list("name", flat=True)
            .distinct()[:DISTINCT_VALUES_CAP]
        )
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return groups_seen_in(queryset, environment=self.value())
        return queryset


class SeenReleaseFilter(TextInputFilter):
    """Groups with an event from this release (among each group's recent releases)."""

    title = "release"
    parameter_name = "release"

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = (self.value() or "").strip()
        return groups_seen_in(queryset, release=value) if value else queryset
