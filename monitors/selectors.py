"""Reads for the overdue sweep and the pages."""

from datetime import datetime

from django.db.models import QuerySet

from monitors.models import CheckIn, Monitor


def monitors_overdue(*, now: datetime) -> QuerySet[Monitor]:
    """Enabled monitors whose next check-in did not come by its deadline."""
    return Monitor.objects.filter(enabled=True, deadline_at__lt=now).order_by("deadline_at")


def check_ins_timed_out(*, now: datetime) -> QuerySet[CheckIn]:
    """In-progress runs of enabled monitors still open past their maximum runtime."""
    return CheckIn.objects.filter(status=CheckIn.Status.IN_PROGRESS, timeout_at__lt=now,
                                  monitor__enabled=True).order_by("timeout_at")
