"""Silences: Triagers (create_silence) create them and end them early; only superusers
edit or delete one, so the record of who muted what stays."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from alerts.models import Silence

from .common import audit

CREATE_PERMISSION = "alerts.create_silence"


class ActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("scheduled", "Scheduled"), ("ended", "Ended")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(starts_at__lte=now, ends_at__gt=now)
        if self.value() == "scheduled":
            return queryset.filter(starts_at__gt=now)
        if self.value() == "ended":
            return queryset.filter(ends_at__lte=now)
        return queryset


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ("__str__", "group", "service", "rule", "starts_at", "ends_at", "active",
                    "reason", "created_by")
    list_filter = (ActiveFilter, "service", "rule")
    raw_id_fields = ("group",)
    fields = ("group", "service", "rule", "starts_at", "ends_at", "reason")
    actions = ["end_now"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("group", "service", "rule",
                                                            "created_by")

    @admin.display(boolean=True)
    def active(self, obj: Silence) -> bool:
        return obj.starts_at <= timezone.now() < obj.ends_at

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CREATE_PERMISSION) or super().has_add_permission(request)

    def has_create_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CREATE_PERMISSION)

    def save_model(self, request: HttpRequest, obj: Silence, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        audit(request, "silence.change" if change else "silence.create", obj, "silence", {
            "group": obj.group_id, "service": obj.service_id, "rule": obj.rule_id,
            "starts_at": obj.starts_at.isoformat(), "ends_at": obj.ends_at.isoformat(),
            "reason": obj.reason})

    def delete_model(self, request: HttpRequest, obj: Silence) -> None:
        audit(request, "silence.delete", obj, "silence", {"reason": obj.reason})
        super().delete_model(request, obj)

    @admin.action(description="End now", permissions=["create"])
    def end_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        now = timezone.now()
        ended = 0
        for silence in queryset.filter(ends_at__gt=now):
            silence.ends_at = max(now, silence.starts_at)
            silence.save(update_fields=["ends_at"])
            audit(request, "silence.end", silence, "silence", {"ended_at": now.isoformat()},
                  log_message="Ended the silence (admin action)")
            ended += 1
        self.message_user(request, f"Ended {ended} silence{'s' if ended != 1 else ''}.")
