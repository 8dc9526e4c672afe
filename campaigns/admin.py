"""Campaigns, their timers and the lifecycle outbox in the admin.

Status only moves through the lifecycle (campaigns/lifecycle.py): the admin schedules a
DRAFT campaign ("Schedule" action); timers and outbox events are the system's records and
are read-only here, except "Back to pending" for outbox events that ran out of attempts.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from campaigns.errors import CampaignError
from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from campaigns.status_changes import campaign_schedule
from resilience.admin.base import ReadOnlyAdmin, ReadOnlyTabularInline


class CampaignTimerInline(ReadOnlyTabularInline):
    model = CampaignTimer
    fields = ("type", "scheduled_at", "status", "retry_count", "next_retry_at", "executed_at",
              "error_message")
    readonly_fields = fields
    ordering = ("scheduled_at", "id")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "priority", "start_time", "end_time", "updated_at")
    list_filter = ("status", "priority", "start_time", "end_time")
    search_fields = ("name",)
    date_hierarchy = "start_time"
    ordering = ("-start_time", "-id")
    inlines = [CampaignTimerInline]
    actions = ["schedule"]

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None):
        # Status moves only through the lifecycle; times are fixed once the timers exist.
        if obj is None:
            return ("status",)
        if obj.status != Campaign.Status.DRAFT:
            return ("status", "start_time", "end_time")
        return ("status",)

    @admin.action(description="Schedule (DRAFT → SCHEDULED, creates the start and end timers)",
                  permissions=["change"])
    def schedule(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        done, problems = 0, []
        for campaign in queryset.order_by("id"):
            try:
                campaign_schedule(campaign=campaign)
            except CampaignError as exc:
                problems.append(f"{campaign}: {exc}")
                continue
            self.log_change(request, campaign, "Scheduled (admin action)")
            done += 1
        if done:
            self.message_user(request, f"Scheduled {done} campaign{'s' if done != 1 else ''}.",
                              messages.SUCCESS)
        for problem in problems:
            self.message_user(request, problem, messages.ERROR)


@admin.register(CampaignTimer)
class CampaignTimerAdmin(ReadOnlyAdmin):
    list_display = ("id", "campaign", "type", "scheduled_at", "status", "retry_count",
                    "next_retry_at", "executed_at")
    list_filter = ("status", "type", "scheduled_at")
    search_fields = ("campaign__name", "error_message")
    list_select_related = ("campaign",)
    ordering = ("-scheduled_at", "-id")


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "topic", "status", "attempts", "created_at", "published_at",
                    "last_error")
    list_filter = ("status", "topic", "created_at")
    ordering = ("-id",)
    actions = ["back_to_pending"]

    @admin.action(description="Back to pending (republished by the next recovery run)",
                  permissions=["view"])
    def back_to_pending(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        if not request.user.has_perm("recovery.run_recovery"):
            self.message_user(request, "Needs the 'run recovery' permission.", messages.ERROR)
            return
        failed = queryset.filter(status=OutboxEvent.Status.FAILED)
        for event in failed:
            self.log_change(request, event, "Back to pending (admin action)")
        count = failed.update(status=OutboxEvent.Status.PENDING, attempts=0)
        self.message_user(request, f"{count} event(s) back to pending.", messages.SUCCESS)
