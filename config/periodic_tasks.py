"""Every periodic task, declared once, and made to exist in celery-beat's database scheduler.

`sync_periodic_tasks` runs after each `migrate` (post_migrate, connected in
ResilienceConfig.ready). A task missing from the scheduler is created from its row here;
one that exists gets this table's task and queue back, and keeps its timing, expiry and
`enabled`: those are the operator's to change under *Periodic tasks* in the admin.
"""

from dataclasses import dataclass

# flush sends post_migrate without `apps`: the registry itself, as create_permissions does.
from django.apps import apps as global_apps


@dataclass(frozen=True)
class PeriodicTaskSpec:
    name: str  # PeriodicTask.name, the row's identity
    task: str
    queue: str
    description: str
    every_seconds: int | None = None  # an interval ...
    daily_at_utc: tuple[int, int] | None = None  # ... or (hour, minute) every day, UTC
    # A run that waited longer than this is dropped (the next one does the same work).
    expire_seconds: int | None = None


PERIODIC_TASKS: tuple[PeriodicTaskSpec, ...] = (
    # After-commit scheduling is the fast path; the sweep makes digestion survive a lost
    # message or a broker outage.
    PeriodicTaskSpec(
        "Digest sweep", "resilience.tasks.digest_sweep", "digest",
        "Digests error entries that after-commit scheduling missed.", every_seconds=10,
    ),
    PeriodicTaskSpec(
        "Dead-letter reclaim", "resilience.tasks.dead_letter_reclaim_stuck", "replay",
        "Puts dead letters stuck in REPLAYING past the claim timeout back.", every_seconds=300,
    ),
    PeriodicTaskSpec(
        "Circuit idle expiry", "resilience.tasks.circuits_expire_idle", "maintenance",
        "Deletes circuits idle for CIRCUIT_IDLE_EXPIRE_SECONDS, in batches.",
        every_seconds=3600,
    ),
    PeriodicTaskSpec(
        "Alert: digestion lag check", "alerts.tasks.alerts_check_digest_lag", "alerts",
        "Alerts when the oldest undigested entry is older than ALERT_DIGEST_LAG_SECONDS.",
        every_seconds=60,
    ),
    PeriodicTaskSpec(
        "Cron monitors: overdue check", "monitors.tasks.monitors_check_overdue", "alerts",
        "Marks missed check-ins and runs past their maximum runtime, and alerts.",
        every_seconds=60, expire_seconds=60,
    ),
    PeriodicTaskSpec(
        "Alert: redelivery sweep", "alerts.tasks.alerts_redeliver_due", "alerts",
        "Re-queues PENDING alert deliveries whose task message was lost.", every_seconds=60,
    ),
    # Runs that queued up behind a long clean-up are dropped rather than replayed.
    PeriodicTaskSpec(
        "Campaign timer processor", "campaigns.tasks.timers_process", "maintenance",
        "Claims due campaign timers (SKIP LOCKED) and runs each once.",
        every_seconds=5, expire_seconds=60,
    ),
    PeriodicTaskSpec(
        "Recovery procedures", "recovery.tasks.recovery_run", "maintenance",
        "Every recovery procedure, each recorded as a RecoveryRun.",
        every_seconds=300, expire_seconds=300,
    ),
    PeriodicTaskSpec(
        "Clean-up", "recovery.tasks.cleanup_run", "maintenance",
        "Deletes rows past their retention, in bounded batches.", daily_at_utc=(3, 30),
    ),
)


def _schedule(spec: PeriodicTaskSpec, using: str) -> dict:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule

    if spec.every_seconds is not None:
        interval, _ = IntervalSchedule.objects.using(using).get_or_create(
            every=spec.every_seconds, period=IntervalSchedule.SECONDS)
        return {"interval": interval, "crontab": None}
    hour, minute = spec.daily_at_utc
    crontab, _ = CrontabSchedule.objects.using(using).get_or_create(
        minute=str(minute), hour=str(hour), day_of_week="*", day_of_month="*",
        month_of_year="*", timezone="UTC",
    )
    return {"interval": None, "crontab": crontab}


def sync_periodic_tasks(*, apps=global_apps, using: str = "default", **kwargs) -> None:
    """post_migrate receiver: create the missing tasks, put task and queue right on ours.

    Through the real models, not `apps`' historical ones: their save() tells a running
    beat that the schedule changed."""
    try:
        apps.get_model("django_celery_beat", "PeriodicTask")
    except LookupError:  # celery-beat's tables are not part of this migrate run's state
        return
    from django_celery_beat.models import PeriodicTask

    existing = {row.name: row for row in PeriodicTask.objects.using(using)
                .filter(name__in=[spec.name for spec in PERIODIC_TASKS])}
    for spec in PERIODIC_TASKS:
        row = existing.get(spec.name)
        if row is None:
            PeriodicTask(
                name=spec.name, task=spec.task, queue=spec.queue, enabled=True,
                description=spec.description, expire_seconds=spec.expire_seconds,
                **_schedule(spec, using),
            ).save(using=using)
        elif (row.task, row.queue) != (spec.task, spec.queue):
            row.task, row.queue = spec.task, spec.queue
            row.save(using=using, update_fields=["task", "queue"])
