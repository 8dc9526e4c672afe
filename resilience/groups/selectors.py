"""Reads: classification rules, entries and groups as the API and admin filter them."""

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from resilience import conf
from resilience.core import time_ranges
from resilience.core.classification import Category, Rule, Severity
from resilience.core.time_ranges import BadRange as BadRange  # re-exported for the callers
from resilience.infra.ttl_cache import MISSING, TtlCache
from resilience.models import (
    ClassificationRule,
    ErrorGroup,
    ErrorLogEntry,
    GroupEnvironment,
    GroupRelease,
)

# The one table of offered ranges (dashboard selector, admin list filters); any
# well-formed Nm/Nh/Nd is accepted wherever a time window is asked for
# (resilience/core/time_ranges.py).
RANGES: dict[str, timedelta] = {
    value: time_ranges.parse(value, max_span=timedelta.max) for value in time_ranges.PRESETS
}


def range_max_span() -> timedelta:
    # Longer ranges would only add empty hours: older rollups are deleted.
    return timedelta(days=conf.get("RETENTION_METRICS_DAYS"))


def parse_range(value: str) -> timedelta:
    """The span of a range; BadRange for anything malformed or too long."""
    return time_ranges.parse(value, max_span=range_max_span())


def parse_metrics_range(value: str) -> timedelta:
    """The metrics' range: refused when malformed, or the seed's one hour when
    METRICS_REFUSE_BAD_RANGE is off."""
    if conf.get("METRICS_REFUSE_BAD_RANGE"):
        return parse_range(value)
    return time_ranges.parse_lenient(value, max_span=range_max_span())


# Kept even with RULES_CACHE_SECONDS=0: the last read is the fallback during an outage.
_rules_cache = TtlCache()
_RULES = "rules"


def classification_rules() -> Mapping[str, Rule]:
    """Operators' enabled overrides, cached for RULES_CACHE_SECONDS in this process."""
    ttl = conf.get("RULES_CACHE_SECONDS")
    if ttl and (cached := _rules_cache.fresh(_RULES)) is not MISSING:
        return cached
    rules = {
        code: Rule(Category(category), Severity(severity) if severity else None)
        for code, category, severity in ClassificationRule.objects.filter(enabled=True)
        .values_list("code", "category", "severity")
    }
    _rules_cache.put(_RULES, rules, ttl=ttl)
    return rules


def classification_rules_last_known() -> Mapping[str, Rule]:
    """The rules this process last read, however old: while the database is unavailable
    they are the best there is (none read yet: the built-in table alone)."""
    rules = _rules_cache.last_known(_RULES)
    return {} if rules is MISSING else rules


def entries_filtered(
    *,
    service_id: int | None = None,
    filters: Mapping[str, str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[ErrorLogEntry]:
    qs = ErrorLogEntry.objects.select_related("service").order_by("-id")
    if service_id is not None:
        qs = qs.filter(service_id=service_id)
    for field, value in (filters or {}).items():
        qs = qs.filter(**{field: value})
    if since:
        qs = qs.filter(timestamp__gte=since)
    if until:
        qs = qs.filter(timestamp__lt=until)
    return qs


def window(
    *, range_: str | None, since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """since/until from an explicit pair or a named range ending now."""
    if range_:
        return timezone.now() - parse_range(range_), None
    return since, until


def groups_filtered(*, service_id: int | None = None) -> QuerySet[ErrorGroup]:
    qs = ErrorGroup.objects.select_related("service", "assignee", "resolved_by")
    if service_id is not None:
        qs = qs.filter(service_id=service_id)
    return qs.order_by("-last_seen", "-id")


def groups_seen_in(
    queryset: QuerySet[ErrorGroup], *, environment: str | None = None,
    release: str | None = None,
) -> QuerySet[ErrorGroup]:
    """The groups with an event from this environment and/or release, not only their first
    (the digest keeps where each group was seen: resilience/digest/seen.py)."""
    if environment is not None:
        seen = GroupEnvironment.objects.filter(name=environment).values("group_id")
        queryset = queryset.filter(id__in=seen)
    if release is not None:
        queryset = queryset.filter(id__in=GroupRelease.objects.filter(name=release)
                                   .values("group_id"))
    return queryset
