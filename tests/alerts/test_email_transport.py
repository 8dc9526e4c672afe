"""Email through a real local SMTP server (aiosmtpd), and an SMTP server that is not there."""

import email
from email import policy

import pytest

from alerts.models import AlertDelivery
from alerts.services.delivery import alert_delivery_send
from tests.alerts.conftest import configure_defaults, free_port
from tests.alerts.helpers import CRITICAL, digest, entries
from tests.alerts.test_evaluate import evaluate

pytestmark = pytest.mark.django_db
DStatus = AlertDelivery.Status


def email_delivery(service):
    configure_defaults(email="oncall@example.test, lead@example.test")
    entries(service, **CRITICAL, campaign_id="camp-3", component="gateway")
    [alert] = evaluate(digest())
    return alert.deliveries.get(channel_kind="EMAIL")


def test_it_sends_the_seeds_email(service, queue, smtp_server):
    delivery = email_delivery(service)
    assert alert_delivery_send(delivery_id=delivery.pk).status == DStatus.SENT
    [message] = smtp_server.messages
    assert message["to"] == ["oncall@example.test", "lead@example.test"]
    parsed = email.message_from_string(message["data"], policy=policy.default)
    assert parsed["Subject"] == f"[CRITICAL] {service.name} Alert"
    assert parsed["From"] == "faultline@example.test"
    body = parsed.get_content().replace("\r\n", "\n")  # SMTP's line ends
    assert body.startswith("Alert Level: CRITICAL\nMessage: Critical error in auth.verify\n"
                           "Timestamp: ")
    for expected in ("Error Details:\n  Category: SECURITY\n  Code: EACCES\n"
                     "  Message: token signature invalid\n",
                     "Context:\n  Operation: auth.verify\n  Campaign ID: camp-3\n"
                     "  Component: gateway\n",
                     f"/admin/resilience/errorgroup/{delivery.alert.group_id}/change/"):
        assert expected in body


def test_smtp_refused_is_retried(service, queue, smtp_settings):
    smtp_settings.EMAIL_PORT = free_port()  # nobody listens there
    delivery = email_delivery(service)
    outcome = alert_delivery_send(delivery_id=delivery.pk)
    assert outcome.status == DStatus.PENDING and outcome.retry_at is not None
    assert "SMTP connection failed" in outcome.error
    [attempt] = delivery.tries.all()
    assert attempt.outcome == "FAILED" and not attempt.permanent
