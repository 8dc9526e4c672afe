"""The digest sweep on celery-beat's database scheduler (editable in the admin).

After-commit scheduling is the fast path; this sweep is what makes digestion survive a
lost message or a broker outage.
"""

from django.db import migrations

from resilience.migrations._schedules import ensure_interval_task, remove_task

TASK_NAME = "Digest sweep"


def create_schedule(apps, schema_editor):
    ensure_interval_task(
        apps,
        name=TASK_NAME,
        task="resilience.tasks.digest_sweep",
        seconds=10,
        queue="digest",
        description="Digests error entries that after-commit scheduling missed.",
    )


def remove_schedule(apps, schema_editor):
    remove_task(apps, TASK_NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("resilience", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
