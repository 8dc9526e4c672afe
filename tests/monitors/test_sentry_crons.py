"""Sentry Crons with the real Python sentry_sdk against a live Faultline: the `monitor`
decorator and `capture_checkin` with a monitor_config make a monitor; a failing job and a
missed one each raise an alert through the rules."""

from datetime import timedelta

import pytest
from django.test import TestCase
from sentry_sdk.crons import capture_checkin, monitor

from alerts.services.evaluate import alerts_evaluate_monitor
from monitors.models import CheckIn, Monitor
from monitors.services import monitors_check_overdue
from resilience.ingest.keys import service_key_dsn
from tests import factories
from tests.sentry.live import python_sdk

pytestmark = pytest.mark.django_db(transaction=True)

NIGHTLY = {"schedule": {"type": "crontab", "value": "0 3 * * *"}, "checkin_margin": 10,
           "max_runtime": 60, "timezone": "Europe/Paris"}


@pytest.fixture
def sdk(live_server, service, settings):
    settings.EXTERNAL_URL = live_server.url
    key = factories.service_key(service)[0]
    with python_sdk(service_key_dsn(key), environment="production") as sdk:
        yield sdk


@monitor(monitor_slug="nightly-export", monitor_config=NIGHTLY)
def nightly_export() -> None:
    raise ConnectionError("warehouse unreachable")


def test_a_failing_job_under_the_monitor_decorator_raises_an_alert(sdk, monitor_alerts,
                                                                   monitor_rule):
    with pytest.raises(ConnectionError):
        nightly_export()
    sdk.flush(timeout=5)

    job = Monitor.objects.get()
    assert (job.slug, job.crontab, job.timezone, job.checkin_margin_minutes) == (
        "nightly-export", "0 3 * * *", "Europe/Paris", 10)
    assert job.status == Monitor.Status.ERROR
    run = CheckIn.objects.get()  # in_progress, then error: one run
    assert (run.status, run.environment) == ("error", "production")
    assert run.duration is not None

    assert [(a["slug"], a["status"]) for a in monitor_alerts] == [("nightly-export", "error")]
    alert = alerts_evaluate_monitor(**monitor_alerts[0])
    assert (alert.kind, alert.level, alert.title) == ("monitor", "HIGH",
                                                      "Cron job failed: nightly-export")
    assert alert.content["service"] == job.service.slug
    assert alert.content["link"].endswith(f"/admin/monitors/monitor/{job.pk}/change/")


def test_a_missed_run_raises_an_alert_when_the_sweep_passes_its_deadline(sdk, monitor_alerts,
                                                                         monitor_rule):
    capture_checkin(monitor_slug="hourly-sync", status="ok", monitor_config={
        "schedule": {"type": "interval", "value": 1, "unit": "hour"}, "checkin_margin": 5})
    sdk.flush(timeout=5)
    job = Monitor.objects.get(slug="hourly-sync")
    assert job.status == Monitor.Status.OK
    assert job.deadline_at == job.last_checkin_at + timedelta(hours=1, minutes=5)

    with TestCase.captureOnCommitCallbacks(execute=True):
        assert monitors_check_overdue(now=job.deadline_at).missed == 0
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert monitors_check_overdue(now=job.deadline_at + timedelta(seconds=1)).missed == 1
    assert Monitor.objects.get().status == Monitor.Status.MISSED
    assert [(a["slug"], a["status"]) for a in monitor_alerts] == [("hourly-sync", "missed")]
    alert = alerts_evaluate_monitor(**monitor_alerts[0])
    assert alert.title == "Cron job missed: hourly-sync"
    assert monitor_rule in alert.rules.all()


def test_a_check_in_for_a_monitor_nobody_configured_is_dropped(sdk, monitor_alerts):
    capture_checkin(monitor_slug="unknown-job", status="error")
    sdk.flush(timeout=5)
    assert not Monitor.objects.exists() and monitor_alerts == []
