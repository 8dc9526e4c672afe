"""The record: every alert, every delivery and every attempt, read-only. Filters by
level, channel, status and time; Triagers may resend a failed or undelivered delivery."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from alerts.models import Alert, AlertAttempt, AlertDelivery, Channel
from alerts.services.delivery import RESEND_PERMISSION, alert_delivery_resend
from resilience.admin.base import ReadOnlyAdmin, ReadOnlyTabularInline
from resilience.admin.display import admin_link, pre, pretty_json

from .common import CreatedRangeFilter, audit


class ChannelFilter(admin.SimpleListFilter):
    title = "channel"
    parameter_name = "channel"
    lookup = "channel_id"

    def lookups(self, request, model_admin):
        return [(str(c.pk), c.name) for c in Channel.objects.order_by("name")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(**{self.lookup: self.value()}).distinct()
        return queryset


class AlertChannelFilter(ChannelFilter):
    lookup = "deliveries__channel_id"


class DeliveryInline(ReadOnlyTabularInline):
    model = AlertDelivery
    fields = ("delivery_link", "channel_name", "status", "attempts", "last_status_code",
              "last_duration_ms", "error", "next_attempt_at", "sent_at")
    readonly_fields = fields

    @admin.display(description="delivery")
    def delivery_link(self, obj: AlertDelivery):
        return admin_link(obj, f"#{obj.pk}")


class AttemptInline(ReadOnlyTabularInline):
    model = AlertAttempt
    fields = ("number", "started_at", "finished_at", "outcome", "response_code", "duration_ms",
              "permanent", "error")
    readonly_fields = fields
    ordering = ("number",)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "level", "kind", "title", "status", "occurrences",
                    "previous_count", "group_link")
    list_filter = ("level", "kind", "status", AlertChannelFilter, CreatedRangeFilter)
    search_fields = ("title", "group_key")
    date_hierarchy = None
    inlines = [DeliveryInline]
    fields = ("created_at", "kind", "level", "status", "status_reason", "title", "message_text",
              "group_link", "service", "occurrences", "previous_count", "previous_since",
              "subject_key", "group_key", "critical_logged_at", "rules", "content_json")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("group")

    @admin.display(description="group")
    def group_link(self, obj: Alert):
        return admin_link(obj.group)

    @admin.display(description="message")
    def message_text(self, obj: Alert):
        return pre(obj.message)

    @admin.display(description="content sent")
    def content_json(self, obj: Alert):
        return pretty_json(obj.content)


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "alert_link", "level", "channel_name", "status", "attempts",
                    "last_status_code", "last_duration_ms", "short_error", "next_attempt_at")
    list_filter = ("status", "alert__level", "channel_kind", ChannelFilter, CreatedRangeFilter)
    search_fields = ("alert__title", "channel_name", "error")
    inlines = [AttemptInline]
    actions = ["resend"]
    fields = ("created_at", "alert_link", "channel", "channel_name", "channel_kind", "rule",
              "status", "attempts", "last_status_code", "last_duration_ms", "error_text",
              "next_attempt_at", "sent_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("alert", "channel", "rule")

    @admin.display(description="alert")
    def alert_link(self, obj: AlertDelivery):
        return admin_link(obj.alert)

    @admin.display(description="level", ordering="alert__level")
    def level(self, obj: AlertDelivery) -> str:
        return obj.alert.level

    @admin.display(description="error")
    def short_error(self, obj: AlertDelivery) -> str:
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error

    @admin.display(description="error")
    def error_text(self, obj: AlertDelivery):
        return pre(obj.error)

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RESEND_PERMISSION)

    @admin.action(description="Resend", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet) -> None:
        resent = skipped = 0
        for delivery in queryset.select_related("alert"):
            if alert_delivery_resend(delivery=delivery, actor=request.user, via="admin"):
                audit(request, "alert_delivery.resend_requested", delivery, "alert_delivery",
                      log_message="Resent (admin action)")
                resent += 1
            else:
                skipped += 1
        if resent:
            self.message_user(request, f"Queued {resent} deliver{'ies' if resent != 1 else 'y'}"
                              " to be sent again.")
        if skipped:
            self.message_user(request, f"{skipped} left alone: only failed or undelivered "
                              "deliveries are resent.", messages.WARNING)
