"""Circuits belong to a service (step 2 of 3), and idle ones expire on celery-beat.

Until now one circuit per operation served every service, so no row can say whose it was.
Each becomes Faultline's own (the in-process guard's service, which owns timer.execute and
event.publish). A circuit an operator acted on (forced, or given its own settings) was a
decision for everyone: it stays shared. The rest are private and expire when idle; a
service that uses one of those names gets its own circuit at its next call.

This migration also used to create the idle-expiry periodic task; periodic tasks are now
declared in config/periodic_tasks.py and made after every migrate (post_migrate).
"""

from django.db import migrations
from django.db.models import Q

SETTINGS_FIELDS = ("failure_threshold", "window_seconds", "recovery_timeout_seconds",
                   "half_open_probes", "probe_timeout_seconds")


def assign_owners(apps, schema_editor):
    CircuitState = apps.get_model("resilience", "CircuitState")
    Service = apps.get_model("resilience", "Service")
    # Made even with no circuits: 0013's default (guard_service_id) then only has to find
    # it, and never creates it through today's model, whose later columns do not exist yet.
    guard, _ = Service.objects.get_or_create(
        slug="faultline",
        defaults={"name": "Faultline (in-process)", "description": "Errors caught by guard()"},
    )
    if not CircuitState.objects.exists():
        return
    CircuitState.objects.filter(service__isnull=True).update(service=guard)
    decided = Q(state__in=["FORCED_OPEN", "FORCED_CLOSED"])
    for name in SETTINGS_FIELDS:
        decided |= Q(**{f"{name}__isnull": False})
    CircuitState.objects.filter(decided).update(shared=True)


class Migration(migrations.Migration):
    dependencies = [
        ("resilience", "0011_circuit_service"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(assign_owners, migrations.RunPython.noop)]
