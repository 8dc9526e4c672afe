"""Celery entry points for recovery and clean-up (queue "maintenance"). Thin."""

from celery import shared_task
from django.contrib.auth import get_user_model

from recovery.registry import CLEANUP, RECOVERY
from recovery.services import RUN_NOW_TASK, procedure_run, recovery_perform


def _result(group: str) -> dict:
    """The seed's summary, and each procedure's outcome."""
    performed = recovery_perform(group=group)
    return {**performed.summary,
            "procedures": {run.procedure: run.outcome for run in performed.runs}}


@shared_task(name="recovery.tasks.recovery_run")
def recovery_run() -> dict:
    """celery-beat, every 5 minutes: every recovery procedure, each recorded."""
    return _result(RECOVERY)


@shared_task(name="recovery.tasks.cleanup_run")
def cleanup_run() -> dict:
    """celery-beat, daily: every clean-up procedure, each recorded."""
    return _result(CLEANUP)


@shared_task(name=RUN_NOW_TASK)
def procedure_run_now(*, name: str, actor_id: int | None = None, via: str = "admin") -> str:
    """An operator's "Run now" (admin), already checked and audited by the request."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    run = procedure_run(name, via=via, actor=actor)
    return run.outcome if run else "UNRECORDED"
