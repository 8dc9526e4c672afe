"""Check-ins make and keep monitors; failed, missed and timed-out runs raise alerts."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import TestCase

from alerts.models import Alert
from alerts.services.evaluate import alerts_evaluate_monitor
from monitors.models import CheckIn, Monitor
from monitors.schedule import ScheduleError
from monitors.services import CheckInError, check_in_record, monitors_check_overdue

NIGHTLY = {"schedule": {"type": "crontab", "value": "0 3 * * *"}, "checkin_margin": 5,
           "max_runtime": 20}
CHECK_IN_ID = "a" * 32


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def record(service, now, **payload):
    payload = {"monitor_slug": "nightly-export", "status": "ok", **payload}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return check_in_record(service_id=service.pk, payload=payload, now=now)


def sweep(now):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return monitors_check_overdue(now=now)


def test_a_check_in_with_a_config_makes_the_monitor_and_expects_the_next_run(service, db):
    check_in = record(service, at(2026, 6, 1, 3, 0, 4), monitor_config=NIGHTLY,
                      duration=12.5, environment="production")
    monitor = Monitor.objects.get()
    assert (monitor.slug, monitor.crontab, monitor.status) == ("nightly-export", "0 3 * * *",
                                                                Monitor.Status.OK)
    assert monitor.last_checkin_at == at(2026, 6, 1, 3, 0, 4)
    assert monitor.next_expected_at == at(2026, 6, 2, 3, 0)
    assert monitor.deadline_at == at(2026, 6, 2, 3, 5)
    assert (check_in.status, check_in.duration, check_in.environment) == (
        "ok", 12.5, "production")


def test_a_later_config_updates_the_schedule(service, db):
    record(service, at(2026, 6, 1, 3), monitor_config=NIGHTLY)
    record(service, at(2026, 6, 2, 3), monitor_config={
        "schedule": {"type": "interval", "value": 6, "unit": "hour"}})
    monitor = Monitor.objects.get()
    assert (monitor.schedule_type, monitor.interval, monitor.interval_unit) == (
        "interval", 6, "hour")
    assert monitor.next_expected_at == at(2026, 6, 2, 9)


def test_a_check_in_for_an_unknown_monitor_without_a_config_is_refused(service, db):
    with pytest.raises(CheckInError):
        record(service, at(2026, 6, 1, 3))
    with pytest.raises(ScheduleError):
        record(service, at(2026, 6, 1, 3), monitor_config={"schedule": {"type": "weekly"}})
    assert not Monitor.objects.exists()


def test_in_progress_then_ok_with_one_id_is_one_run(service, db):
    record(service, at(2026, 6, 1, 3, 0, 1), status="in_progress", check_in_id=CHECK_IN_ID,
           monitor_config=NIGHTLY)
    run = CheckIn.objects.get()
    assert run.timeout_at == at(2026, 6, 1, 3, 20, 1)
    record(service, at(2026, 6, 1, 3, 9), status="ok", check_in_id=CHECK_IN_ID, duration=539.0)
    run.refresh_from_db()
    assert (run.status, run.duration, run.timeout_at) == ("ok", 539.0, None)
    assert CheckIn.objects.count() == 1
    assert Monitor.objects.get().next_expected_at == at(2026, 6, 2, 3)


def test_a_late_in_progress_never_reopens_a_finished_run(service, db):
    record(service, at(2026, 6, 1, 3, 0, 1), status="in_progress", check_in_id=CHECK_IN_ID,
           monitor_config=NIGHTLY)
    record(service, at(2026, 6, 1, 3, 0, 2), status="error", check_in_id=CHECK_IN_ID)
    record(service, at(2026, 6, 1, 3, 0, 3), status="in_progress", check_in_id=CHECK_IN_ID,
           monitor_config=NIGHTLY)
    run = CheckIn.objects.get()
    assert (run.status, run.timeout_at) == ("error", None)
    assert Monitor.objects.get().status == "error"


def test_an_error_check_in_raises_a_monitor_alert(service, db, monitor_alerts):
    record(service, at(2026, 6, 1, 3, 0, 1), status="error", duration=3.0,
           monitor_config=NIGHTLY, environment="production")
    assert Monitor.objects.get().status == Monitor.Status.ERROR
    assert [(a["slug"], a["status"]) for a in monitor_alerts] == [("nightly-export", "error")]
    alert = alerts_evaluate_monitor(**monitor_alerts[0])
    assert (alert.kind, alert.level, alert.subject_key) == (
        "monitor", "HIGH", f"monitor:{Monitor.objects.get().pk}")
    assert alert.title == "Cron job failed: nightly-export"
    assert alert.content["operation"] == "monitor:nightly-export"
    assert alert.content["environment"] == "production"


def test_a_missed_run_alerts_once_and_the_monitor_expects_the_next(service, db,
                                                                 monitor_alerts):
    record(service, at(2026, 6, 1, 3), monitor_config=NIGHTLY)
    assert sweep(at(2026, 6, 2, 3, 5)).missed == 0  # within the margin
    assert sweep(at(2026, 6, 2, 3, 6)).missed == 1
    assert sweep(at(2026, 6, 2, 3, 7)).missed == 0  # the same run is not missed twice
    monitor = Monitor.objects.get()
    assert monitor.status == Monitor.Status.MISSED
    assert monitor.next_expected_at == at(2026, 6, 3, 3)
    missed = CheckIn.objects.get(status="missed")
    assert missed.expected_at == at(2026, 6, 2, 3)
    assert [a["status"] for a in monitor_alerts] == ["missed"]
    alert = alerts_evaluate_monitor(**monitor_alerts[0])
    assert alert.title == "Cron job missed: nightly-export"
    assert "2026-06-02 03:00" in alert.content["message"]


def test_after_a_long_outage_of_the_sweep_the_missed_runs_are_one_alert(service, db,
                                                                       monitor_alerts):
    record(service, at(2026, 6, 1, 3), monitor_config=NIGHTLY)
    assert sweep(at(2026, 6, 9, 12)).missed == 1
    assert Monitor.objects.get().next_expected_at == at(2026, 6, 10, 3)
    assert len(monitor_alerts) == 1


def test_a_run_past_its_maximum_runtime_times_out_and_alerts(service, db, monitor_alerts):
    record(service, at(2026, 6, 1, 3), status="in_progress", check_in_id=CHECK_IN_ID,
           monitor_config=NIGHTLY)
    assert sweep(at(2026, 6, 1, 3, 19)).timed_out == 0
    assert sweep(at(2026, 6, 1, 3, 21)).timed_out == 1
    assert CheckIn.objects.get().status == "timeout"
    assert Monitor.objects.get().status == Monitor.Status.TIMED_OUT
    assert [a["status"] for a in monitor_alerts] == ["timeout"]
    # The job finishing late closes the run and the monitor is OK again.
    record(service, at(2026, 6, 1, 3, 30), status="ok", check_in_id=CHECK_IN_ID)
    assert Monitor.objects.get().status == Monitor.Status.OK


def test_a_paused_monitor_records_check_ins_but_never_alerts(service, db, monitor_alerts):
    record(service, at(2026, 6, 1, 3), monitor_config=NIGHTLY)
    Monitor.objects.update(enabled=False)
    record(service, at(2026, 6, 1, 4), status="error")
    assert sweep(at(2026, 6, 5)).missed == 0
    assert monitor_alerts == []
    assert CheckIn.objects.count() == 2


def test_monitor_alerts_are_throttled_per_monitor(service, db, monitor_alerts):
    record(service, at(2026, 6, 1, 3), status="error", monitor_config=NIGHTLY)
    record(service, at(2026, 6, 1, 3, 1), status="error")
    now = at(2026, 6, 1, 3, 2)
    first, second = (alerts_evaluate_monitor(**kwargs, now=now + timedelta(seconds=i))
                     for i, kwargs in enumerate(monitor_alerts))
    assert first is not None and second is None  # counted into the first one's window
    assert Alert.objects.get(kind="monitor").occurrences == 2


def test_check_ins_past_the_entry_retention_are_cleaned_up(service, db, settings):
    from monitors.procedures import cleanup_check_ins

    record(service, at(2026, 5, 1, 3), monitor_config=NIGHTLY)
    record(service, at(2026, 6, 1, 3))
    result = cleanup_check_ins(at(2026, 6, 10))  # 30 days by default
    assert result.changed["deleted"] == 1
    assert list(CheckIn.objects.values_list("received_at", flat=True)) == [at(2026, 6, 1, 3)]
    assert Monitor.objects.get().last_checkin_at == at(2026, 6, 1, 3)
