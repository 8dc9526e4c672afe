"""A CRITICAL alert that no channel delivered reaches the critical log and shows as
undelivered."""

import json

import pytest

from alerts.models import Alert, AlertDelivery
from alerts.services.delivery import alert_delivery_send
from tests.alerts.conftest import configure_defaults
from tests.alerts.helpers import CRITICAL, digest, entries
from tests.alerts.test_evaluate import evaluate

pytestmark = pytest.mark.django_db


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_critical_with_every_channel_unconfigured_is_logged_at_once(service, queue,
                                                                    critical_log):
    entries(service, **CRITICAL)  # the default channels are still "not configured"
    [alert] = evaluate(digest())
    assert alert.status == Alert.Status.UNDELIVERED
    assert {d.status for d in alert.deliveries.all()} == {AlertDelivery.Status.UNDELIVERED}
    assert {d.error for d in alert.deliveries.all()} == {"channel disabled: not configured"}
    [record] = lines(critical_log)
    assert record["alert_id"] == alert.pk and record["level"] == "CRITICAL"
    assert len(record["deliveries"]) == 3


def test_critical_that_failed_everywhere_is_logged_once(service, queue, critical_log,
                                                        receiver):
    configure_defaults(slack=receiver.url, webhook=receiver.url)
    receiver.statuses = [400]
    entries(service, **CRITICAL)
    [alert] = evaluate(digest())
    assert lines(critical_log) == []  # the email channel is UNDELIVERED, the others pending
    queue.run("alerts.tasks.alert_deliver")
    alert.refresh_from_db()
    assert alert.status == Alert.Status.UNDELIVERED and alert.critical_logged_at
    [record] = lines(critical_log)
    assert {d["status"] for d in record["deliveries"]} == {"FAILED", "UNDELIVERED"}


def test_a_critical_delivered_anywhere_is_not_logged(service, queue, critical_log, receiver):
    configure_defaults(slack=receiver.url)
    entries(service, **CRITICAL)
    [alert] = evaluate(digest())
    delivery = alert.deliveries.get(channel_kind="SLACK")
    alert_delivery_send(delivery_id=delivery.pk)
    alert.refresh_from_db()
    assert alert.status == Alert.Status.DELIVERED
    assert lines(critical_log) == []


def test_high_undelivered_is_not_critical_logged(service, queue, critical_log):
    entries(service)
    [alert] = evaluate(digest())
    assert alert.status == Alert.Status.UNDELIVERED
    assert lines(critical_log) == []
