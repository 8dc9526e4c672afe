"""Work that could not be done, kept for inspection and replay; and where replays go."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from resilience.models.core import CATEGORY_CHOICES, ErrorLogEntry, Service
from resilience.outbound.calls import destination_problem


class ReplayTarget(models.Model):
    """Where a service's dead letters for one operation are replayed to."""

    class Kind(models.TextChoices):
        WEBHOOK = "WEBHOOK", "Webhook (HMAC-signed POST)"
        CELERY_TASK = "CELERY_TASK", "Celery task"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="replay_targets")
    operation = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    url = models.URLField(max_length=500, blank=True)
    secret = models.CharField(max_length=128, blank=True, help_text="HMAC-SHA256 signing key")
    task_name = models.CharField(max_length=200, blank=True)
    rate_per_second = models.FloatField(
        default=10.0, help_text="Most replays per second to this target"
    )
    max_replays = models.PositiveIntegerField(
        default=5, help_text="Automatic replays before a dead letter stays FAILED"
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "operation"], name="replay_target_op")
        ]

    def __str__(self) -> str:
        where = self.url if self.kind == self.Kind.WEBHOOK else self.task_name
        return f"{self.service} / {self.operation} → {where}"

    def clean(self) -> None:
        # The same destination policy as every replay (resilience/outbound/calls.py), at save time.
        refused = destination_problem(self.url) if self.kind == self.Kind.WEBHOOK and self.url \
            else ""
        if refused:
            raise ValidationError({"url": f"Not allowed: {refused}."})


class DeadLetter(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        REPLAYING = "REPLAYING", "Replaying"
        REPLAYED = "REPLAYED", "Replayed"
        FAILED = "FAILED", "Failed"
        DISCARDED = "DISCARDED", "Discarded"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="dead_letters")
    entry = models.OneToOneField(
        ErrorLogEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="dead_letter"
    )
    operation = models.CharField(max_length=200)
    payload = models.JSONField(null=True, blank=True, help_text="As originally received")
    edited_payload = models.JSONField(null=True, blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    edited_at = models.DateTimeField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES, blank=True)
    attempt_count = models.PositiveIntegerField(default=0, help_text="Attempts before it died")
    first_failed_at = models.DateTimeField(default=timezone.now)
    last_failed_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    replay_key = models.UUIDField(
        default=uuid.uuid4, unique=True, help_text="Sent with every replay for deduplication"
    )
    replay_count = models.PositiveIntegerField(default=0)
    next_replay_at = models.DateTimeField(null=True, blank=True)
    last_replay_at = models.DateTimeField(null=True, blank=True)
    last_replay_error = models.TextField(blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replayed_at = models.DateTimeField(null=True, blank=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    discarded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["status", "operation"], name="dead_letter_status_op"),
            models.Index(fields=["-created_at"], name="dead_letter_created"),
        ]
        permissions = [
            ("replay_deadletter", "Can replay, edit and replay, and discard dead letters"),
            ("purge_deadletter", "Can purge discarded and replayed dead letters"),
        ]

    def __str__(self) -> str:
        return f"{self.operation}: {self.reason[:60]}"

    @property
    def replay_payload(self):
        """What a replay sends: the operator's edit if there is one, else the original."""
        return self.edited_payload if self.edited_payload is not None else self.payload


class DeadLetterAttempt(models.Model):
    """One replay attempt and what came of it."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"

    dead_letter = models.ForeignKey(DeadLetter, on_delete=models.CASCADE, related_name="attempts")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=16, default="system")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.dead_letter_id} @ {self.started_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"
