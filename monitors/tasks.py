"""Celery entry points of the monitors (queue "alerts": a late sweep is a late alert)."""

from celery import shared_task
from django.utils import timezone

from monitors.services import monitors_check_overdue


@shared_task(name="monitors.tasks.monitors_check_overdue")
def monitors_check_overdue_task() -> dict[str, int]:
    """Every minute (config/periodic_tasks.py): missed and timed-out runs."""
    result = monitors_check_overdue(now=timezone.now())
    return {"missed": result.missed, "timed_out": result.timed_out}
