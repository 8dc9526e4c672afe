"""The history of recovery and clean-up procedures: one row per procedure run."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class RecoveryRun(models.Model):
    class Outcome(models.TextChoices):
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"
        SKIPPED = "SKIPPED", "Skipped"

    procedure = models.CharField(max_length=64)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    changed = models.JSONField(
        default=dict, blank=True, help_text="What it changed: counts, and ids (at most 100)"
    )
    error = models.TextField(blank=True)
    via = models.CharField(max_length=16, default="beat", help_text="beat, admin or command")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["procedure", "-started_at"], name="recovery_run_procedure"),
            models.Index(fields=["started_at"], name="recovery_run_started"),
        ]
        permissions = [("run_recovery", "Can run recovery and clean-up procedures now")]

    def __str__(self) -> str:
        return f"{self.procedure} @ {self.started_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
