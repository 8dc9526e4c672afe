"""The schedule lives in celery-beat's database scheduler (config/periodic_tasks.py, made
after migrate), and the tasks go to the maintenance queue."""

from django.conf import settings
from django_celery_beat.models import PeriodicTask

from config.celery_app import app


def test_migrate_creates_the_three_periodic_tasks(db):
    tasks = {t.name: t for t in PeriodicTask.objects.filter(
        task__in=["campaigns.tasks.timers_process", "recovery.tasks.recovery_run",
                  "recovery.tasks.cleanup_run"])}
    processor = tasks["Campaign timer processor"]
    assert (processor.interval.every, processor.interval.period) == (5, "seconds")
    recovery = tasks["Recovery procedures"]
    assert recovery.interval.every == 300
    cleanup = tasks["Clean-up"]
    assert (cleanup.crontab.hour, cleanup.crontab.minute) == ("3", "30")
    assert {t.queue for t in tasks.values()} == {"maintenance"}
    assert all(t.enabled for t in tasks.values())


def test_the_tasks_are_routed_to_the_maintenance_queue():
    assert settings.CELERY_BEAT_SCHEDULER.endswith("DatabaseScheduler")
    for name in ("campaigns.tasks.timers_process", "recovery.tasks.recovery_run",
                 "recovery.tasks.cleanup_run", "recovery.tasks.procedure_run_now"):
        route = app.amqp.router.route({}, name)
        assert route["queue"].name == "maintenance", name
