"""Circuit breakers: the durable mirror of the live state kept in Redis, and its history.

A circuit belongs to a service and an operation: one service's failures never open another
service's circuit. An operator may share a circuit (one per operation): then every
service's failures count against it and every service reads it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from resilience.models.core import Service

# The in-process guard's service; circuits made without naming a service are its own.
GUARD_SERVICE_SLUG = "faultline"
GUARD_SERVICE_DEFAULTS = {"name": "Faultline (in-process)",
                          "description": "Errors caught by guard()"}


def guard_service_id() -> int:
    """Faultline's own service, created on first use (the guard does the same).

    Looked up by id alone: migration 0013 calls this as a default, with the table as it was
    then, so it must not name columns that later migrations add to Service."""
    pk = Service.objects.filter(slug=GUARD_SERVICE_SLUG).values_list("pk", flat=True).first()
    if pk is None:
        pk = Service.objects.get_or_create(slug=GUARD_SERVICE_SLUG,
                                           defaults=GUARD_SERVICE_DEFAULTS)[0].pk
    return pk


class CircuitState(models.Model):
    """One breaker per (service, operation). Empty settings fall back to FAULTLINE defaults."""

    class State(models.TextChoices):
        CLOSED = "CLOSED", "Closed"
        OPEN = "OPEN", "Open"
        HALF_OPEN = "HALF_OPEN", "Half-open"
        FORCED_OPEN = "FORCED_OPEN", "Forced open"
        FORCED_CLOSED = "FORCED_CLOSED", "Forced closed"

    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="circuits", default=guard_service_id,
        help_text="The service whose calls this circuit guards",
    )
    operation = models.CharField(max_length=200)
    shared = models.BooleanField(
        default=False,
        help_text="Shared with every service: their failures count against it and they all "
        "read it (at most one shared circuit per operation)",
    )
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
        ordering = ["service_id", "operation"]
        permissions = [("force_circuitstate", "Can force circuits open or closed and reset them")]
        constraints = [
            models.UniqueConstraint(fields=["service", "operation"],
                                    name="circuit_unique_per_service"),
            models.UniqueConstraint(fields=["operation"], condition=Q(shared=True),
                                    name="circuit_one_shared_per_operation",
                                    violation_error_message="Another circuit for this "
                                    "operation is already shared."),
        ]
        indexes = [
            # The idle-expiry task's scan: CLOSED rows unchanged since a cut-off.
            models.Index(fields=["state", "changed_at"], name="circuit_state_changed_idx"),
        ]

    def __str__(self) -> str:
        owner = "shared" if self.shared else f"service {self.service_id}"
        return f"{self.operation} ({owner}): {self.state}"


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
