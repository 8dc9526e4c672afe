"""Every periodic task is declared in config/periodic_tasks.py and exists after migrate;
the sync after each migrate puts task and queue right and leaves the operator's timing."""

from django.apps import apps
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.periodic_tasks import PERIODIC_TASKS, sync_periodic_tasks


def _as_declared(row: PeriodicTask) -> dict:
    return {"task": row.task, "queue": row.queue, "enabled": row.enabled,
            "description": row.description, "expire_seconds": row.expire_seconds,
            "every_seconds": row.interval.every if row.interval else None,
            "daily_at_utc": (int(row.crontab.hour), int(row.crontab.minute))
            if row.crontab else None}


def test_migrate_creates_every_declared_task(db):
    rows = {row.name: row for row in PeriodicTask.objects.exclude(name__startswith="celery.")}
    assert sorted(rows) == sorted(spec.name for spec in PERIODIC_TASKS)
    for spec in PERIODIC_TASKS:
        assert _as_declared(rows[spec.name]) == {
            "task": spec.task, "queue": spec.queue, "enabled": True,
            "description": spec.description, "expire_seconds": spec.expire_seconds,
            "every_seconds": spec.every_seconds, "daily_at_utc": spec.daily_at_utc,
        }, spec.name
    assert rows["Clean-up"].crontab.timezone.key == "UTC"


def test_the_sync_keeps_the_operators_timing_and_restores_task_and_queue(db):
    sweep = PeriodicTask.objects.get(name="Digest sweep")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    sweep.interval, sweep.enabled = every_minute, False
    sweep.task, sweep.queue = "resilience.tasks.renamed", "elsewhere"
    sweep.save()
    PeriodicTask.objects.filter(name="Clean-up").delete()

    sync_periodic_tasks(apps=apps)
    sync_periodic_tasks(apps=apps)  # idempotent

    sweep.refresh_from_db()
    assert (sweep.task, sweep.queue) == ("resilience.tasks.digest_sweep", "digest")
    assert (sweep.interval.every, sweep.enabled) == (60, False)
    assert PeriodicTask.objects.filter(name="Clean-up", enabled=True).count() == 1
    assert PeriodicTask.objects.filter(name="Digest sweep").count() == 1
