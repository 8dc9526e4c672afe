"""Reclaiming dead letters left REPLAYING by a worker that died, on celery-beat."""

from django.db import migrations

from resilience.migrations._schedules import ensure_interval_task, remove_task

TASK_NAME = "Dead-letter reclaim"


def create_schedule(apps, schema_editor):
    ensure_interval_task(
        apps,
        name=TASK_NAME,
        task="resilience.tasks.dead_letter_reclaim_stuck",
        seconds=300,
        queue="replay",
        description="Puts dead letters stuck in REPLAYING past the claim timeout back.",
    )


def remove_schedule(apps, schema_editor):
    remove_task(apps, TASK_NAME)


class Migration(migrations.Migration):
    dependencies = [("resilience", "0006_circuit_live_state")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
