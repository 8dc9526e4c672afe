"""Cron monitors: status, last check-in, next expected run; each one's recent check-ins."""

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from monitors.models import CheckIn, Monitor

STATUS_COLOURS = {
    Monitor.Status.NEW: "#6c757d", Monitor.Status.OK: "#1e7e34",
    Monitor.Status.ERROR: "#b02a37", Monitor.Status.MISSED: "#b35c00",
    Monitor.Status.TIMED_OUT: "#b35c00",
}
RECENT_CHECK_INS = 50


class CheckInInline(admin.TabularInline):
    model = CheckIn
    fields = ("received_at", "status", "duration", "environment", "expected_at",
              "check_in_id")
    readonly_fields = fields
    ordering = ("-received_at",)
    extra = 0
    can_delete = False
    verbose_name_plural = f"check-ins (the last {RECENT_CHECK_INS})"

    def get_queryset(self, request: HttpRequest):
        recent = (CheckIn.objects.filter(monitor=request.resolver_match.kwargs.get("object_id"))
                  .order_by("-received_at").values("pk")[:RECENT_CHECK_INS])
        return super().get_queryset(request).filter(pk__in=recent)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    list_display = ("slug", "service", "status_badge", "schedule_text", "last_checkin_at",
                    "next_expected_at", "enabled")
    list_filter = ("status", "enabled", "service")
    list_select_related = ("service",)
    search_fields = ("slug",)
    ordering = ("service__name", "slug")
    inlines = (CheckInInline,)
    # Made and kept up to date by the SDK's monitor_config: an operator may pause one, or
    # widen its margins (used from its next check-in on).
    readonly_fields = ("service", "slug", "status", "schedule_type", "crontab", "interval",
                       "interval_unit", "timezone", "last_checkin_at", "next_expected_at",
                       "deadline_at", "created_at")
    fields = (("service", "slug"), ("status", "enabled"),
              ("schedule_type", "crontab", "interval", "interval_unit", "timezone"),
              ("checkin_margin_minutes", "max_runtime_minutes"),
              ("last_checkin_at", "next_expected_at", "deadline_at"), "created_at")

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Monitor) -> SafeString:
        return format_html('<strong style="color:{}">{}</strong>',
                           STATUS_COLOURS.get(obj.status, "inherit"), obj.get_status_display())

    @admin.display(description="Schedule")
    def schedule_text(self, obj: Monitor) -> str:
        return obj.schedule.describe()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # monitors come from check-ins (the SDK's monitor_config)
