"""Reads of circuits for the API and the admin: which ones a service may see, and the
order operators want them in. The writes are resilience/circuits/services.py."""

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from resilience.models import CircuitState

State = CircuitState.State

# Operators' order: what needs attention first, then by service and operation.
STATE_ORDER = Case(
    When(state=State.OPEN, then=Value(0)),
    When(state=State.HALF_OPEN, then=Value(1)),
    When(state=State.FORCED_OPEN, then=Value(2)),
    When(state=State.FORCED_CLOSED, then=Value(3)),
    default=Value(4),
    output_field=IntegerField(),
)


def circuits_ordered(queryset: QuerySet) -> QuerySet:
    return queryset.annotate(state_rank=STATE_ORDER).order_by(
        "state_rank", "service__slug", "operation", "id")


def circuits_used_by(*, service_id: int) -> QuerySet:
    """The circuits a service reads: its own, except those a shared one stands in for,
    and every shared one."""
    shared_ops = CircuitState.objects.filter(shared=True).values("operation")
    return CircuitState.objects.filter(
        Q(shared=True) | (Q(service_id=service_id) & ~Q(operation__in=shared_ops))
    )


def circuit_used_by(*, service_id: int, operation: str) -> CircuitState | None:
    """The circuit a service's calls for `operation` reach, if it exists."""
    return (CircuitState.objects.select_related("service", "changed_by")
            .filter(Q(shared=True) | Q(service_id=service_id), operation=operation)
            .order_by("-shared").first())
