"""Schedules from the SDK's monitor_config, and when the next run is due (no database)."""

from datetime import UTC, datetime

import pytest

from monitors.schedule import (
    CRONTAB,
    INTERVAL,
    Schedule,
    ScheduleError,
    monitor_config_read,
    next_expected,
)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_crontab_config_is_read_with_sentrys_defaults():
    config = monitor_config_read({"schedule": {"type": "crontab", "value": "0  3 * * *"}})
    assert config.schedule == Schedule(CRONTAB, crontab="0 3 * * *", timezone="UTC")
    assert (config.margin_minutes, config.max_runtime_minutes) == (1, 30)


def test_an_interval_config_keeps_its_unit_margin_and_runtime():
    config = monitor_config_read({
        "schedule": {"type": "interval", "value": 2, "unit": "hour"},
        "checkin_margin": 5, "max_runtime": 10, "timezone": "Europe/Berlin",
    })
    assert config.schedule == Schedule(INTERVAL, interval=2, unit="hour",
                                       timezone="Europe/Berlin")
    assert (config.margin_minutes, config.max_runtime_minutes) == (5, 10)


def test_the_next_crontab_run_is_the_first_minute_strictly_after():
    nightly = Schedule(CRONTAB, crontab="0 3 * * *")
    assert next_expected(nightly, after=at(2026, 6, 1, 2, 59)) == at(2026, 6, 1, 3, 0)
    assert next_expected(nightly, after=at(2026, 6, 1, 3, 0, 5)) == at(2026, 6, 2, 3, 0)
    quarter = Schedule(CRONTAB, crontab="*/15 * * * *")
    assert next_expected(quarter, after=at(2026, 6, 1, 10, 59)) == at(2026, 6, 1, 11, 0)


def test_a_crontab_runs_at_its_wall_clock_time_in_its_timezone_across_dst():
    paris = Schedule(CRONTAB, crontab="0 3 * * *", timezone="Europe/Paris")
    # Winter (UTC+1), then the night summer time starts (29 March 2026, UTC+2).
    assert next_expected(paris, after=at(2026, 1, 10, 12)) == at(2026, 1, 11, 2, 0)
    assert next_expected(paris, after=at(2026, 3, 28, 12)) == at(2026, 3, 29, 1, 0)


def test_an_interval_in_hours_is_elapsed_time_and_in_days_is_calendar_days():
    hourly = Schedule(INTERVAL, interval=2, unit="hour", timezone="Europe/Paris")
    assert next_expected(hourly, after=at(2026, 3, 29, 0, 30)) == at(2026, 3, 29, 2, 30)
    daily = Schedule(INTERVAL, interval=1, unit="day", timezone="Europe/Paris")
    # 03:00 local on both days, though that day had 23 hours.
    assert next_expected(daily, after=at(2026, 3, 28, 2)) == at(2026, 3, 29, 1)
    monthly = Schedule(INTERVAL, interval=1, unit="month")
    assert next_expected(monthly, after=at(2026, 1, 31)) == at(2026, 2, 28)


def test_a_cron_nickname_is_a_crontab():
    config = monitor_config_read({"schedule": {"type": "crontab", "value": "@daily"}})
    assert next_expected(config.schedule, after=at(2026, 6, 1, 12)) == at(2026, 6, 2)


@pytest.mark.parametrize("config", [
    None,
    {},
    {"schedule": {"type": "crontab", "value": "61 * * * *"}},
    {"schedule": {"type": "crontab", "value": "0 3 * *"}},
    {"schedule": {"type": "crontab", "value": 5}},
    {"schedule": {"type": "interval", "value": 0, "unit": "hour"}},
    {"schedule": {"type": "interval", "value": 2, "unit": "fortnight"}},
    {"schedule": {"type": "interval", "value": True, "unit": "hour"}},
    {"schedule": {"type": "weekly"}},
    {"schedule": {"type": "crontab", "value": "0 3 * * *"}, "timezone": "Mars/Olympus"},
    {"schedule": {"type": "crontab", "value": "0 3 * * *"}, "checkin_margin": -1},
    {"schedule": {"type": "crontab", "value": "0 3 * * *"}, "max_runtime": "long"},
])
def test_a_config_that_cannot_be_used_is_refused_with_a_reason(config):
    with pytest.raises(ScheduleError):
        monitor_config_read(config)
