"""Check-ins in, and the alerts for runs that failed, never came or never finished.

A check-in upserts its monitor (the SDK's monitor_config carries the schedule, as Sentry's
monitor upsert does), records the run, and moves the monitor's deadline: the next run the
schedule expects after this check-in, plus the margin. The beat task runs
`monitors_check_overdue` every minute: a monitor past its deadline gets a MISSED check-in,
an in-progress run past its maximum runtime becomes TIMEOUT, and each announces
`monitor_failed` (resilience/signals.py), which alerts turns into an alert through the
operators' rules, like an error check-in does.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from monitors.models import CheckIn, Monitor
from monitors.schedule import MonitorConfig, deadline, monitor_config_read, next_expected
from monitors.selectors import check_ins_timed_out, monitors_overdue
from resilience.sentry.mapping import normalise_event_id
from resilience.signals import announce, monitor_failed

log = logging.getLogger("faultline.monitors")

SDK_STATUSES = {CheckIn.Status.IN_PROGRESS, CheckIn.Status.OK, CheckIn.Status.ERROR}
# Monitors (and open runs) one sweep handles; the next minute's sweep takes the rest.
SWEEP_BATCH = 500
# Runs of a monitor skipped over by one long outage of the sweep are reported as one miss.
_CATCH_UP_STEPS = 1000


class CheckInError(ValueError):
    """A check-in that cannot be recorded (dropped and counted by the endpoint)."""


@dataclass(frozen=True)
class CheckInReport:
    """A check-in as the SDK sent it, checked."""

    slug: str
    status: str
    check_in_id: str
    duration: float | None
    environment: str
    release: str
    config: MonitorConfig | None


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def check_in_read(payload: dict[str, Any]) -> CheckInReport:
    """A `check_in` item's payload (https://develop.sentry.dev/sdk/telemetry/check-ins/)."""
    raw_slug = payload.get("monitor_slug")
    slug = slugify(raw_slug)[:128] if isinstance(raw_slug, str) else ""
    if not slug:
        raise CheckInError(f"a check-in needs a monitor_slug, not {raw_slug!r}")
    status = payload.get("status")
    if status not in SDK_STATUSES:
        raise CheckInError(f"a check-in's status is in_progress, ok or error, not {status!r}")
    duration = payload.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
        duration = None
    config = payload.get("monitor_config")
    return CheckInReport(
        slug=slug, status=status,
        check_in_id=normalise_event_id(payload.get("check_in_id")) or uuid.uuid4().hex,
        duration=float(duration) if duration is not None else None,
        environment=_text(payload.get("environment"), 64),
        release=_text(payload.get("release"), 200),
        config=monitor_config_read(config) if config is not None else None,
    )


def _monitor_for(service_id: int, report: CheckInReport) -> Monitor:
    """The monitor, locked; made or updated from the report's monitor_config."""
    monitor = (Monitor.objects.select_for_update()
               .filter(service_id=service_id, slug=report.slug).first())
    config = report.config
    if monitor is None and config is None:
        raise CheckInError(f"no monitor {report.slug!r}, and the check-in has no "
                           "monitor_config to make one")
    if monitor is None:
        try:
            with transaction.atomic():
                monitor = Monitor.objects.create(service_id=service_id, slug=report.slug,
                                                 schedule_type=config.schedule.kind)
        except IntegrityError:  # made by a concurrent check-in
            monitor = Monitor.objects.select_for_update().get(service_id=service_id,
                                                              slug=report.slug)
    if config is not None:
        schedule = config.schedule
        monitor.schedule_type, monitor.crontab = schedule.kind, schedule.crontab
        monitor.interval, monitor.interval_unit = schedule.interval, schedule.unit
        monitor.timezone = schedule.timezone
        monitor.checkin_margin_minutes = config.margin_minutes
        monitor.max_runtime_minutes = config.max_runtime_minutes
    return monitor


def _expect_next(monitor: Monitor, *, after: datetime) -> None:
    monitor.next_expected_at = next_expected(monitor.schedule, after=after)
    monitor.deadline_at = deadline(monitor.next_expected_at, monitor.checkin_margin_minutes)


def check_in_record(*, service_id: int, payload: dict[str, Any], now: datetime) -> CheckIn:
    """Record one check-in; CheckInError (or ScheduleError) when it cannot be."""
    report = check_in_read(payload)
    with transaction.atomic():
        monitor = _monitor_for(service_id, report)
        check_in = (CheckIn.objects.select_for_update()
                    .filter(monitor=monitor, check_in_id=report.check_in_id).first())
        if (check_in is not None and check_in.status != CheckIn.Status.IN_PROGRESS
                and report.status == CheckIn.Status.IN_PROGRESS):
            # An SDK may send a quick run's two check-ins at once and they can cross: a
            # late in_progress never reopens a run that has already ended.
            return check_in
        if check_in is None:  # a new run: it answers the schedule's expectation
            check_in = CheckIn(monitor=monitor, check_in_id=report.check_in_id,
                               received_at=now, expected_at=monitor.next_expected_at)
            monitor.last_checkin_at = now
            _expect_next(monitor, after=now)
        check_in.status, check_in.updated_at = report.status, now
        check_in.duration = report.duration if report.duration is not None else check_in.duration
        check_in.environment = report.environment or check_in.environment
        check_in.release = report.release or check_in.release
        check_in.timeout_at = (now + timedelta(minutes=monitor.max_runtime_minutes)
                               if report.status == CheckIn.Status.IN_PROGRESS else None)
        check_in.save()
        if report.status == CheckIn.Status.OK:
            monitor.status = Monitor.Status.OK
        elif report.status == CheckIn.Status.ERROR:
            monitor.status = Monitor.Status.ERROR
            _announce(monitor, check_in, detail=_error_detail(check_in))
        monitor.save()
    return check_in


def _error_detail(check_in: CheckIn) -> str:
    took = f" after {check_in.duration:.1f} s" if check_in.duration is not None else ""
    return f"The job reported a failed run{took}."


def _announce(monitor: Monitor, check_in: CheckIn, *, detail: str) -> None:
    if not monitor.enabled:
        return
    kwargs = {
        "monitor_id": monitor.pk, "service_id": monitor.service_id, "slug": monitor.slug,
        "status": check_in.status, "environment": check_in.environment, "detail": detail,
        # A missed run is about when it was due; the others about when they were reported.
        "at": (check_in.expected_at if check_in.status == CheckIn.Status.MISSED
               else check_in.updated_at).isoformat(),
        "check_in_id": check_in.pk,
    }
    transaction.on_commit(lambda: announce(monitor_failed, sender=CheckIn, **kwargs))


# --- the minute's sweep -------------------------------------------------------------------


@dataclass
class SweepResult:
    missed: int = 0
    timed_out: int = 0


def monitors_check_overdue(*, now: datetime) -> SweepResult:
    """Missed runs and runs past their maximum runtime, as of `now` (tests pass it)."""
    result = SweepResult()
    with transaction.atomic():
        for monitor in monitors_overdue(now=now).select_for_update(skip_locked=True)[
                :SWEEP_BATCH]:
            _miss(monitor, now=now)
            result.missed += 1
    with transaction.atomic():
        for check_in in check_ins_timed_out(now=now).select_related("monitor").select_for_update(
                skip_locked=True, of=("self",))[:SWEEP_BATCH]:
            _time_out(check_in, now=now)
            result.timed_out += 1
    return result


def _miss(monitor: Monitor, *, now: datetime) -> None:
    expected = monitor.next_expected_at or now
    check_in = CheckIn.objects.create(
        monitor=monitor, check_in_id=uuid.uuid4().hex, status=CheckIn.Status.MISSED,
        received_at=now, updated_at=now, expected_at=expected,
    )
    monitor.status = Monitor.Status.MISSED
    # The next run the schedule expects whose deadline is still ahead.
    _expect_next(monitor, after=expected)
    for _ in range(_CATCH_UP_STEPS):
        if monitor.deadline_at > now:
            break
        _expect_next(monitor, after=monitor.next_expected_at)
    else:
        _expect_next(monitor, after=now)
    monitor.save(update_fields=["status", "next_expected_at", "deadline_at"])
    _announce(monitor, check_in, detail=(
        f"No check-in came for the run expected at {expected:%Y-%m-%d %H:%M} UTC "
        f"(margin {monitor.checkin_margin_minutes} min)."))


def _time_out(check_in: CheckIn, *, now: datetime) -> None:
    monitor = check_in.monitor
    check_in.status, check_in.updated_at = CheckIn.Status.TIMEOUT, now
    check_in.save(update_fields=["status", "updated_at"])
    Monitor.objects.filter(pk=monitor.pk).update(status=Monitor.Status.TIMED_OUT)
    _announce(monitor, check_in, detail=(
        f"The run that started at {check_in.received_at:%Y-%m-%d %H:%M} UTC is still in "
        f"progress after its maximum runtime of {monitor.max_runtime_minutes} min."))
