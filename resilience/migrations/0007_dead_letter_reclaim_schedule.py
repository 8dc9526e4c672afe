"""Reclaiming dead letters left REPLAYING by a worker that died, on celery-beat."""

from django.db import migrations

TASK_NAME = "Dead-letter reclaim"
INTERVAL_SECONDS = 300


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=INTERVAL_SECONDS, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "resilience.tasks.dead_letter_reclaim_stuck",
            "interval": every,
            "queue": "replay",
            "enabled": True,
            "description": "Puts dead letters stuck in REPLAYING past the claim timeout back.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("resilience", "0006_circuit_live_state")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
