"""Shared by the alerting admin modules: auditing and a created-at time filter."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from resilience.admin.filters import TIME_RANGES
from resilience.models import AuditEvent


def audit(request: HttpRequest, action: str, obj: Model, target_type: str,
          detail: dict | None = None, *, log_message: str = "") -> None:
    """An AuditEvent, and (for actions, which Django does not log itself) a LogEntry."""
    AuditEvent.objects.create(action=action, actor=request.user, via="admin",
                              target_type=target_type, target_id=str(obj.pk),
                              detail=dict(detail or {}))
    if log_message:
        LogEntry.objects.log_actions(request.user.pk, [obj], CHANGE, log_message)


class CreatedRangeFilter(admin.SimpleListFilter):
    title = "time range"
    parameter_name = "range"
    field_name = "created_at"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [(value, label) for value, label, _ in TIME_RANGES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        span = {value: span for value, _, span in TIME_RANGES}.get(self.value() or "")
        if span is None:
            return queryset
        return queryset.filter(**{f"{self.field_name}__gte": timezone.now() - span})
