"""Alerting's periodic tasks on celery-beat's database scheduler (editable in the admin):
the digestion-lag check, and the sweep that re-queues deliveries whose message was lost."""

from django.db import migrations

from resilience.migrations._schedules import ensure_interval_task, remove_task

TASKS = [
    ("Alert: digestion lag check", "alerts.tasks.alerts_check_digest_lag", 60,
     "Alerts when the oldest undigested entry is older than ALERT_DIGEST_LAG_SECONDS."),
    ("Alert: redelivery sweep", "alerts.tasks.alerts_redeliver_due", 60,
     "Re-queues PENDING alert deliveries whose task message was lost."),
]


def create_schedules(apps, schema_editor):
    for name, task, seconds, description in TASKS:
        ensure_interval_task(apps, name=name, task=task, seconds=seconds, queue="alerts",
                             description=description)


def remove_schedules(apps, schema_editor):
    for name, *_ in TASKS:
        remove_task(apps, name)


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0002_default_rules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
