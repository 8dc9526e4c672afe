"""A monitor's schedule, read from a Sentry SDK's `monitor_config`, and when a check-in is
next due.

https://develop.sentry.dev/sdk/telemetry/check-ins/#monitor-upsert-support:
`schedule` is {"type": "crontab", "value": "0 3 * * *"} or {"type": "interval",
"value": 2, "unit": "hour"}; `checkin_margin` and `max_runtime` are minutes; `timezone` an
IANA name. Crontab fields are parsed and stepped by Celery's crontab (a dependency we
already run, kept with it), in the monitor's own timezone so a 03:00 job stays at 03:00
across daylight saving time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import ParseException, crontab
from dateutil.relativedelta import relativedelta

CRONTAB = "crontab"
INTERVAL = "interval"
# Sentry's defaults when the SDK sends none.
DEFAULT_MARGIN_MINUTES = 1
DEFAULT_MAX_RUNTIME_MINUTES = 30
UNITS = {
    "minute": lambda n: relativedelta(minutes=n),
    "hour": lambda n: relativedelta(hours=n),
    "day": lambda n: relativedelta(days=n),
    "week": lambda n: relativedelta(weeks=n),
    "month": lambda n: relativedelta(months=n),
    "year": lambda n: relativedelta(years=n),
}
# The nicknames cron accepts for common schedules.
ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MINUTES_MAX = 60 * 24 * 366  # a margin or runtime of up to a year


class ScheduleError(ValueError):
    """The monitor_config cannot be used; the message says which part."""


@dataclass(frozen=True)
class Schedule:
    kind: str  # CRONTAB or INTERVAL
    crontab: str = ""
    interval: int = 0
    unit: str = ""
    timezone: str = "UTC"

    def describe(self) -> str:
        if self.kind == CRONTAB:
            return f"{self.crontab} ({self.timezone})"
        return f"every {self.interval} {self.unit}{'s' if self.interval != 1 else ''}"


@dataclass(frozen=True)
class MonitorConfig:
    schedule: Schedule
    margin_minutes: int = DEFAULT_MARGIN_MINUTES
    max_runtime_minutes: int = DEFAULT_MAX_RUNTIME_MINUTES


def _crontab(expression: str) -> crontab:
    fields = ALIASES.get(expression.strip().lower(), expression).split()
    if len(fields) != 5:
        raise ScheduleError(f"a crontab has 5 fields, not {len(fields)}: {expression!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        return crontab(minute=minute, hour=hour, day_of_month=day_of_month,
                       month_of_year=month_of_year, day_of_week=day_of_week)
    except (ValueError, ParseException) as exc:
        raise ScheduleError(f"not a crontab: {expression!r} ({exc})") from None


def _zone(name: Any) -> str:
    if name in (None, ""):
        return "UTC"
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown timezone: {name!r}") from None
    return str(name)


def _minutes(value: Any, default: int, what: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 <= value <= MINUTES_MAX):
        raise ScheduleError(f"{what} must be a number of minutes, not {value!r}")
    return max(1, int(value)) if what == "max_runtime" else int(value)


def monitor_config_read(config: Any) -> MonitorConfig:
    """The SDK's monitor_config as a MonitorConfig; ScheduleError names what is wrong."""
    if not isinstance(config, dict) or not isinstance(config.get("schedule"), dict):
        raise ScheduleError("monitor_config needs a schedule")
    schedule, zone = config["schedule"], _zone(config.get("timezone"))
    kind, value = schedule.get("type"), schedule.get("value")
    if kind == CRONTAB:
        if not isinstance(value, str):
            raise ScheduleError("a crontab schedule's value is the crontab text")
        _crontab(value)
        parsed = Schedule(CRONTAB, crontab=" ".join(value.split()), timezone=zone)
    elif kind == INTERVAL:
        unit = schedule.get("unit")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
            raise ScheduleError(f"an interval's value is a whole number, not {value!r}")
        if unit not in UNITS:
            raise ScheduleError(f"an interval's unit is one of {', '.join(UNITS)}, not {unit!r}")
        parsed = Schedule(INTERVAL, interval=value, unit=unit, timezone=zone)
    else:
        raise ScheduleError(f"a schedule's type is crontab or interval, not {kind!r}")
    return MonitorConfig(
        schedule=parsed,
        margin_minutes=_minutes(config.get("checkin_margin"), DEFAULT_MARGIN_MINUTES,
                                "checkin_margin"),
        max_runtime_minutes=_minutes(config.get("max_runtime"), DEFAULT_MAX_RUNTIME_MINUTES,
                                     "max_runtime"),
    )


def next_expected(schedule: Schedule, *, after: datetime) -> datetime:
    """When the next run is due: the first crontab minute strictly after `after` (in the
    schedule's timezone), or `after` + the interval. Aware, in UTC."""
    zone = ZoneInfo(schedule.timezone)
    local = after.astimezone(zone)
    if schedule.kind == INTERVAL and schedule.unit in ("minute", "hour"):
        due = after + UNITS[schedule.unit](schedule.interval)  # elapsed time
    elif schedule.kind == INTERVAL:
        due = local + UNITS[schedule.unit](schedule.interval)  # calendar days, local
    else:
        start, delta, _now = _crontab(schedule.crontab).remaining_delta(local, tz=zone)
        due = start + delta
    return due.astimezone(UTC)


def deadline(expected: datetime, margin_minutes: int) -> datetime:
    """A check-in later than this is missed."""
    return expected + timedelta(minutes=margin_minutes)
