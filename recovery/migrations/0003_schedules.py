"""The timer processor (every 5 s), recovery (every 5 minutes) and clean-up (daily at
03:30 UTC) on celery-beat's database scheduler; edit their timing in the admin
(Periodic tasks). All three go to the "maintenance" queue."""

from django.db import migrations

PROCESSOR = "Campaign timer processor"
RECOVERY = "Recovery procedures"
CLEANUP = "Clean-up"


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5s, _ = IntervalSchedule.objects.get_or_create(every=5, period="seconds")
    every_5m, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.update_or_create(name=PROCESSOR, defaults={
        "task": "campaigns.tasks.timers_process", "interval": every_5s, "crontab": None,
        "queue": "maintenance", "enabled": True,
        # A run that waited longer than this behind a long clean-up is dropped: the next
        # one, 5 s later, does the same work.
        "expire_seconds": 60,
        "description": "Claims due campaign timers (SKIP LOCKED) and runs each once.",
    })
    PeriodicTask.objects.update_or_create(name=RECOVERY, defaults={
        "task": "recovery.tasks.recovery_run", "interval": every_5m, "crontab": None,
        "queue": "maintenance", "enabled": True, "expire_seconds": 300,
        "description": "Every recovery procedure, each recorded as a RecoveryRun.",
    })
    PeriodicTask.objects.update_or_create(name=CLEANUP, defaults={
        "task": "recovery.tasks.cleanup_run", "interval": None, "crontab": nightly,
        "queue": "maintenance", "enabled": True,
        "description": "Deletes rows past their retention, in bounded batches.",
    })


def remove_schedules(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[PROCESSOR, RECOVERY, CLEANUP]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
