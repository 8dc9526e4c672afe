"""Writes the database could not take, queued by the `database.write` fallback for later."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class DeferredWrite(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed"

    operation = models.CharField(max_length=200)
    payload = models.JSONField(null=True, blank=True)
    context = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, help_text="Why the original write failed")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="deferred_pending", condition=Q(status="PENDING"))
        ]

    def __str__(self) -> str:
        return f"{self.operation} #{self.pk} ({self.status})"
