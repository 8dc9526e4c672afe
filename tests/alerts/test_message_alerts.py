"""Sentry messages (capture_message, log records) below ALERT_MIN_MESSAGE_LEVEL raise no
"New error" alert; exceptions, and messages at or above it, alert as before."""

import pytest
from django.test import TestCase

from alerts.services.evaluate import alerts_evaluate_digest
from tests.alerts.conftest import configure_defaults
from tests.alerts.helpers import digest, entries

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(receiver, httpserver):
    return configure_defaults(slack=receiver.url, webhook=receiver.url, email="ops@example.test")


def evaluate(payload):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return alerts_evaluate_digest(**payload)


def sentry_entries(service, *, level, event_type="message", severity="MEDIUM", n=2):
    return entries(service, n, message=f"nightly export: {level}", severity=severity,
                   source="sentry", extra={"event_type": event_type, "level": level})


@pytest.mark.parametrize("level", ["debug", "info"])
def test_an_info_or_debug_message_raises_no_new_error_alert(service, queue, configured, level):
    sentry_entries(service, level=level)
    payload = digest()
    assert payload["new_groups"]  # the group is made all the same
    assert evaluate(payload) == []


@pytest.mark.parametrize("level", ["warning", "error", "fatal"])
def test_a_message_at_warning_or_above_raises_one(service, queue, configured, level):
    sentry_entries(service, level=level)
    [alert] = evaluate(digest())
    assert alert.kind == "new_group" and alert.title == f"New error: nightly export: {level}"


def test_an_exception_alerts_whatever_its_level(service, queue, configured):
    sentry_entries(service, level="info", event_type="error")
    [alert] = evaluate(digest())
    assert alert.kind == "new_group"


def test_the_minimum_level_is_a_setting(service, queue, configured, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_MIN_MESSAGE_LEVEL": "error"}
    sentry_entries(service, level="warning")
    assert evaluate(digest()) == []
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_MIN_MESSAGE_LEVEL": "debug"}
    sentry_entries(service, level="debug")
    [alert] = evaluate(digest())
    assert alert.kind == "new_group"
