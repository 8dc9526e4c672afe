"""Cron monitors and their check-ins."""

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from monitors.schedule import (
    CRONTAB,
    DEFAULT_MARGIN_MINUTES,
    DEFAULT_MAX_RUNTIME_MINUTES,
    INTERVAL,
    UNITS,
    Schedule,
)
from resilience.models import Service


class Monitor(models.Model):
    """A scheduled job of a service, made (and its schedule kept up to date) by the SDK's
    monitor_config; `deadline_at` is when the next check-in is missed."""

    class Status(models.TextChoices):
        NEW = "new", "Waiting for its first check-in"
        OK = "ok", "OK"
        ERROR = "error", "Failed"
        MISSED = "missed", "Missed"
        TIMED_OUT = "timed_out", "Timed out"

    class ScheduleType(models.TextChoices):
        CRONTAB = CRONTAB, "Crontab"
        INTERVAL = INTERVAL, "Interval"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="monitors")
    slug = models.SlugField(max_length=128)
    schedule_type = models.CharField(max_length=16, choices=ScheduleType.choices)
    crontab = models.CharField(max_length=128, blank=True)
    interval = models.PositiveIntegerField(default=0)
    interval_unit = models.CharField(max_length=8, blank=True,
                                     choices=[(unit, unit) for unit in UNITS])
    timezone = models.CharField(max_length=64, default="UTC")
    checkin_margin_minutes = models.PositiveIntegerField(default=DEFAULT_MARGIN_MINUTES)
    max_runtime_minutes = models.PositiveIntegerField(default=DEFAULT_MAX_RUNTIME_MINUTES)
    enabled = models.BooleanField(
        default=True, help_text="Off: check-ins are still recorded, but nothing alerts")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    last_checkin_at = models.DateTimeField(null=True, blank=True)
    next_expected_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True,
                                       help_text="Missed when no check-in came by then")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "slug"], name="monitor_service_slug"),
        ]
        indexes = [
            # The minute's overdue sweep (monitors/services.py).
            models.Index(fields=["deadline_at"], name="monitor_deadline",
                         condition=Q(enabled=True)),
        ]

    def __str__(self) -> str:
        return f"{self.slug} ({self.service_id})"

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.schedule_type, crontab=self.crontab, interval=self.interval,
                        unit=self.interval_unit, timezone=self.timezone)


class CheckIn(models.Model):
    """One run as the job reported it (or as the sweep found it: missed, timed out)."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        OK = "ok", "OK"
        ERROR = "error", "Failed"
        MISSED = "missed", "Missed"
        TIMEOUT = "timeout", "Timed out"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="check_ins")
    # The SDK's check_in_id, shared by a run's in_progress and its closing check-in; ours
    # for a missed run.
    check_in_id = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds, as the SDK says")
    environment = models.CharField(max_length=64, blank=True)
    release = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    expected_at = models.DateTimeField(null=True, blank=True,
                                       help_text="The run it stands for, when known")
    timeout_at = models.DateTimeField(null=True, blank=True,
                                      help_text="An in-progress run not closed by then timed out")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["monitor", "check_in_id"], name="checkin_once"),
        ]
        indexes = [
            models.Index(fields=["monitor", "-received_at"], name="checkin_recent"),
            # In-progress runs the sweep may time out: a handful of rows.
            models.Index(fields=["timeout_at"], name="checkin_open",
                         condition=Q(status="in_progress")),
            models.Index(fields=["received_at"], name="checkin_received"),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} at {self.received_at:%Y-%m-%d %H:%M}"
