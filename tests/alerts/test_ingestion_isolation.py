"""Alert delivery never runs on the ingest or digest path: with a slow receiver enabled,
ingest and digest (and the alert evaluation) finish without contacting it; the send
happens later, in its own task on the alerts queue."""

import json

import pytest
from django.test import TestCase

from resilience.digest.service import digest_batch
from tests.alerts.conftest import configure_defaults

pytestmark = pytest.mark.django_db


def test_ingest_and_digest_do_not_contact_a_slow_receiver(service_client, queue, receiver):
    configure_defaults(slack=receiver.url, webhook=receiver.url)
    receiver.delay = 2.0  # a receiver this slow would show on any synchronous path
    events = []

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = service_client.post(
            "/api/v1/errors/", content_type="application/json",
            data=json.dumps({"code": "ENOMEM", "message": "cannot allocate memory",
                             "operation": "report.render"}))
    assert response.status_code == 201, response.content
    events.append(("ingest answered", len(receiver.received)))

    with TestCase.captureOnCommitCallbacks(execute=True):
        digest_batch(limit=100)
    events.append(("digest committed", len(receiver.received)))
    assert queue.names() == ["alerts.tasks.alerts_evaluate_digest"]

    queue.run("alerts.tasks.alerts_evaluate_digest")
    events.append(("alerts evaluated", len(receiver.received)))
    assert set(queue.names()) == {"alerts.tasks.alert_deliver"}

    receiver.delay = 0.0
    queue.run("alerts.tasks.alert_deliver")
    events.append(("deliveries sent", len(receiver.received)))

    assert events == [("ingest answered", 0), ("digest committed", 0),
                      ("alerts evaluated", 0), ("deliveries sent", 2)]
    assert [line for line in queue.log if line.startswith("ran")] == [
        "ran alerts.tasks.alerts_evaluate_digest", "ran alerts.tasks.alert_deliver",
        "ran alerts.tasks.alert_deliver"]
