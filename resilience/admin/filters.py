"""Changelist filters that stay cheap on large tables."""

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from resilience.core.time_ranges import label as range_label
from resilience.groups.selectors import RANGES

# Distinct-value filters list at most this many values, so a field with thousands of
# distinct operations does not turn the sidebar into a wall (or the query into a scan).
DISTINCT_VALUES_CAP = 50


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
