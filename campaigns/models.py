"""The campaign lifecycle: campaigns, the timers that start and end them, and the outbox
of lifecycle events waiting to be (re)published."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "DRAFT", "Draft"
        SCHEDULED = "SCHEDULED", "Scheduled"
        RUNNING = "RUNNING", "Running"
        PAUSED = "PAUSED", "Paused"
        COMPLETED = "COMPLETED", "Completed"
        CANCELLED = "CANCELLED", "Cancelled"

    class Priority(models.TextChoices):
        LOW = "LOW", "Low"
        NORMAL = "NORMAL", "Normal"
        HIGH = "HIGH", "High"

    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "end_time"], name="campaign_status_end")]

    def __str__(self) -> str:
        return self.name


class CampaignTimer(models.Model):
    class Type(models.TextChoices):
        START = "campaign.start", "Start"
        END = "campaign.end", "End"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        RUNNING = "RUNNING", "Running"
        COMPLETED = "COMPLETED", "Completed"
        FAILED = "FAILED", "Failed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="timers")
    type = models.CharField(max_length=32, choices=Type.choices)
    scheduled_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    retry_count = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # The timer processor's queue: due PENDING timers only.
            models.Index(
                fields=["scheduled_at"], name="timer_pending_due", condition=Q(status="PENDING")
            ),
            models.Index(fields=["status", "updated_at"], name="timer_status_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} {self.type} @ {self.scheduled_at:%Y-%m-%d %H:%M}"


class OutboxEvent(models.Model):
    """A lifecycle event stored locally because the event bus could not take it; the
    recovery procedure republishes these in id order."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        PUBLISHED = "PUBLISHED", "Republished"
        FAILED = "FAILED", "Failed"

    topic = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="outbox_pending", condition=Q(status="PENDING"))
        ]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk} ({self.status})"
