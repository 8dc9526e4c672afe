"""Query filters for the entry and group lists (django-filter)."""

from datetime import UTC, datetime

from django.utils import timezone
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from resilience.groups.selectors import groups_seen_in, parse_range
from resilience.models import (
    CATEGORY_CHOICES,
    SEVERITY_CHOICES,
    ErrorGroup,
    ErrorLogEntry,
)
from resilience.models.group_seen import RECENT_RELEASES_MAX


def in_utc(name: str, value: datetime) -> datetime:
    """An aware filter bound in UTC. Any offset Python reads (up to ±23:59) names one
    instant, but PostgreSQL refuses offsets past ±15:59 (`-16:52` was a 500)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:  # before year 1 or after 9999 once in UTC
        raise ValidationError({name: f"{value.isoformat()} is out of range: give a time "
                                     f"between years 1 and 9999 in UTC"}) from None


class TimeWindowFilter(filters.FilterSet):
    """since/until (RFC 3339) or range=Nm|Nh|Nd (e.g. 15m, 6h, 7d), on `time_field`."""

    time_field = "timestamp"
    since = filters.IsoDateTimeFilter(method="filter_since")
    until = filters.IsoDateTimeFilter(method="filter_until")
    range = filters.CharFilter(method="filter_range",
                               help_text="A whole number and m, h or d: 15m, 6h, 7d, …")

    def filter_since(self, queryset, name, value):
        return queryset.filter(**{f"{self.time_field}__gte": in_utc(name, value)})

    def filter_until(self, queryset, name, value):
        return queryset.filter(**{f"{self.time_field}__lt": in_utc(name, value)})

    def filter_range(self, queryset, name, value):
        span = parse_range(value)  # a BadRange is api/exceptions.py's 400 naming `range`
        return queryset.filter(**{f"{self.time_field}__gte": timezone.now() - span})


class EntryFilter(TimeWindowFilter):
    category = filters.ChoiceFilter(choices=CATEGORY_CHOICES)
    severity = filters.ChoiceFilter(choices=SEVERITY_CHOICES)
    service = filters.CharFilter(field_name="service__slug")
    resolved = filters.BooleanFilter(method="filter_resolved")

    class Meta:
        model = ErrorLogEntry
        fields = [
            "campaign_id", "category", "severity", "service", "operation", "environment",
            "release", "strategy", "group",
        ]

    def filter_resolved(self, queryset, name, value):
        resolved = ErrorGroup.Status.RESOLVED
        return (
            queryset.filter(group__status=resolved)
            if value
            else queryset.exclude(group__status=resolved)
        )


class GroupFilter(TimeWindowFilter):
    time_field = "last_seen"
    category = filters.ChoiceFilter(choices=CATEGORY_CHOICES)
    severity = filters.ChoiceFilter(choices=SEVERITY_CHOICES)
    status = filters.ChoiceFilter(choices=ErrorGroup.Status.choices)
    service = filters.CharFilter(field_name="service__slug")
    resolved = filters.BooleanFilter(method="filter_resolved")
    campaign_id = filters.CharFilter(method="filter_campaign", help_text="Groups with entries "
                                     "from this campaign")
    environment = filters.CharFilter(method="filter_environment", help_text="Groups seen in "
                                     "this environment (any of their events, not only the "
                                     "first)")
    release = filters.CharFilter(method="filter_release", help_text="Groups seen in this "
                                 f"release (among each group's {RECENT_RELEASES_MAX} most recent)")
    needs_manual_intervention = filters.BooleanFilter(
        help_text="Groups with a dead-letter decision that had nothing to replay, not yet "
        "resolved")
    unhandled = filters.BooleanFilter(help_text="Groups with an event the application did "
                                      "not handle (true), or only handled ones (false)")

    class Meta:
        model = ErrorGroup
        fields = ["category", "severity", "status", "service", "operation"]

    def filter_resolved(self, queryset, name, value):
        resolved = ErrorGroup.Status.RESOLVED
        return queryset.filter(status=resolved) if value else queryset.exclude(status=resolved)

    def filter_campaign(self, queryset, name, value):
        return queryset.filter(
            id__in=ErrorLogEntry.objects.filter(campaign_id=value).values("group_id")
        )

    def filter_environment(self, queryset, name, value):
        return groups_seen_in(queryset, environment=value)

    def filter_release(self, queryset, name, value):
        return groups_seen_in(queryset, release=value)
