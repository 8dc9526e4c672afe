"""The digest sweep on celery-beat's database scheduler (editable in the admin).

After-commit scheduling is the fast path; this sweep is what makes digestion survive a
lost message or a broker outage.
"""

from django.db import migrations

TASK_NAME = "Digest sweep"
INTERVAL_SECONDS = 10


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=INTERVAL_SECONDS, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "resilience.tasks.digest_sweep",
            "interval": every,
            "queue": "digest",
            "enabled": True,
            "description": "Digests error entries that after-commit scheduling missed.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("resilience", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
