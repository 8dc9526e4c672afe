"""Webhook deliveries to a real local receiver: the versioned payload, the HMAC checked
with resilience.core.signing.verify, a receiver too slow for the timeout, and operation names
no header could carry."""

import json
import time
from urllib.parse import unquote

import pytest
from django.test import TestCase

from alerts.models import AlertDelivery
from alerts.services.delivery import alert_delivery_send
from alerts.services.evaluate import alerts_evaluate_dead_letter
from resilience.core import signing
from resilience.dead_letters.services import dead_letter_create
from tests.alerts.conftest import SECRET, configure_defaults
from tests.alerts.helpers import CRITICAL, digest, entries
from tests.alerts.test_evaluate import evaluate

pytestmark = pytest.mark.django_db
DStatus = AlertDelivery.Status


@pytest.fixture
def webhook_delivery(service, queue, receiver):
    configure_defaults(webhook=receiver.url)
    entries(service, **CRITICAL, campaign_id="camp-9", component="auth", environment="prod")
    [alert] = evaluate(digest())
    return alert.deliveries.get(channel_kind="WEBHOOK")


def test_the_payload_field_by_field(webhook_delivery, receiver, service):
    assert alert_delivery_send(delivery_id=webhook_delivery.pk).status == DStatus.SENT
    [request] = receiver.received
    body = request.json
    alert = webhook_delivery.alert
    group = alert.group
    assert body["version"] == "1"
    assert body["kind"] == "immediate"  # a new group, but the seed's alert comes first
    assert body["context"]["also"] == ["new_group"]
    assert body["alert_id"] == alert.pk
    assert body["group_key"] == f"faultline:{service.slug}:{group.fingerprint}"
    assert body["level"] == "CRITICAL"
    assert body["message"] == "Critical error in auth.verify"
    assert body["service"] == service.slug
    assert body["service_name"] == service.name
    assert body["environment"] == "prod"
    assert body["error"] == {"category": "SECURITY", "code": "EACCES",
                             "message": "token signature invalid", "name": "PermissionError"}
    assert body["context"]["operation"] == "auth.verify"
    assert body["context"]["campaign_id"] == "camp-9"
    assert body["context"]["component"] == "auth"
    assert body["context"]["group_id"] == group.pk
    assert body["occurrences"] == 1 and body["previous"] is None
    assert body["link"].endswith(f"/admin/resilience/errorgroup/{group.pk}/change/")
    assert request.headers["X-Faultline-Alert-Id"] == str(alert.pk)
    assert request.headers["X-Faultline-Group-Key"] == body["group_key"]


def test_the_signature_verifies_with_resilience_signing(webhook_delivery, receiver):
    alert_delivery_send(delivery_id=webhook_delivery.pk)
    [request] = receiver.received
    signing.verify(SECRET, request.body, timestamp=request.headers["X-Faultline-Timestamp"],
                   signature_header=request.headers["X-Faultline-Signature"], now=time.time())
    with pytest.raises(signing.SignatureError):
        signing.verify(SECRET, request.body + b" ", now=time.time(),
                       timestamp=request.headers["X-Faultline-Timestamp"],
                       signature_header=request.headers["X-Faultline-Signature"])
    json.loads(request.body)  # the raw bytes signed are the JSON document


def test_a_receiver_slower_than_the_timeout_is_retried(webhook_delivery, receiver, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_HTTP_TIMEOUT_SECONDS": 0.3}
    receiver.delay = 1.0
    outcome = alert_delivery_send(delivery_id=webhook_delivery.pk)
    assert outcome.status == DStatus.PENDING and "timed out" in outcome.error
    [attempt] = webhook_delivery.tries.all()
    assert attempt.outcome == "FAILED" and not attempt.permanent
    receiver.delay = 0.0
    time.sleep(0.8)  # let the slow handler finish before the retry
    assert alert_delivery_send(delivery_id=webhook_delivery.pk,
                               now=outcome.retry_at).status == DStatus.SENT


@pytest.mark.parametrize("operation", [
    "payment.charge\r\nX-Injected: yes",  # CR/LF: http.client refuses the header
    "支付.扣款 ☃",  # not Latin-1: http.client cannot encode the header
    "café 100% done",  # Latin-1, and the escape character itself
])
def test_a_hostile_operation_never_costs_the_delivery(service, queue, receiver, operation):
    configure_defaults(webhook=receiver.url)
    with TestCase.captureOnCommitCallbacks(execute=True):
        letter = dead_letter_create(service_id=service.pk, operation=operation,
                                    payload={"id": 1}, reason="gave up")
    alert = alerts_evaluate_dead_letter(dead_letter_id=letter.pk)
    delivery = alert.deliveries.get(channel_kind="WEBHOOK")
    assert alert_delivery_send(delivery_id=delivery.pk).status == DStatus.SENT
    [request] = receiver.received
    key = request.headers["X-Faultline-Group-Key"]
    assert key.isascii() and key.isprintable()
    assert unquote(key) == request.json["group_key"] \
        == f"faultline:dead_letter:{service.slug}:{operation}"
    assert "X-Injected" not in request.headers
    assert request.json["context"]["operation"] == operation  # the body keeps it as it is


def test_a_plain_group_key_is_sent_unchanged(webhook_delivery, receiver):
    alert_delivery_send(delivery_id=webhook_delivery.pk)
    [request] = receiver.received
    assert request.headers["X-Faultline-Group-Key"] == request.json["group_key"]
    assert "%" not in request.headers["X-Faultline-Group-Key"]
