"""Circuit breakers: the durable mirror of the live state kept in Redis, and its history."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class CircuitState(models.Model):
    """One breaker per operation name. Empty settings fall back to FAULTLINE defaults."""

    class State(models.TextChoices):
        CLOSED = "CLOSED", "Closed"
        OPEN = "OPEN", "Open"
        HALF_OPEN = "HALF_OPEN", "Half-open"
        FORCED_OPEN = "FORCED_OPEN", "Forced open"
        FORCED_CLOSED = "FORCED_CLOSED", "Forced closed"

    operation = models.CharField(max_length=200, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CLOSED)
    failure_count = models.PositiveIntegerField(
        default=0, help_text="Failures counted in the current window"
    )
    opened_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_via = models.CharField(max_length=16, default="system")
    # A monotonically rising number per transition, so a late mirror write cannot
    # overwrite a newer state.
    version = models.BigIntegerField(default=0)
    # Failure times and probe reservations while the breaker runs on this row (Redis
    # unreachable or not configured); empty while Redis holds the live state.
    live_state = models.JSONField(default=dict, blank=True)

    failure_threshold = models.PositiveIntegerField(null=True, blank=True)
    window_seconds = models.PositiveIntegerField(null=True, blank=True)
    recovery_timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    half_open_probes = models.PositiveIntegerField(null=True, blank=True)
    probe_timeout_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["operation"]
        permissions = [("force_circuitstate", "Can force circuits open or closed and reset them")]

    def __str__(self) -> str:
        return f"{self.operation}: {self.state}"


class CircuitTransition(models.Model):
    circuit = models.ForeignKey(CircuitState, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=16, choices=CircuitState.State.choices)
    to_state = models.CharField(max_length=16, choices=CircuitState.State.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=16, default="system")
    reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.circuit.operation}: {self.from_state} → {self.to_state}"
