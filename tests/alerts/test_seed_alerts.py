"""The seed's AlertSystem and the alerts its ServiceErrorHandler raises, row by row, end to
end: the failure is recorded (guard, API or digest), the alert evaluated, and every
delivery sent to real receivers (pytest-httpserver for Slack and the webhook, aiosmtpd for
email), then read back as the receivers got it."""

import email
import json
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
from django.test import TestCase
from django.utils import timezone

import resilience
from alerts.formatting import iso_timestamp
from alerts.models import Alert, AlertDelivery
from alerts.services.delivery import alert_delivery_send
from alerts.services.evaluate import alerts_evaluate_dead_letter
from resilience.dead_letters.services import dead_letter_create
from resilience.handling.fallbacks import register_fallback
from resilience.models import ErrorLogEntry
from tests.alerts.conftest import Receiver, configure_defaults
from tests.alerts.helpers import CRITICAL, digest, entries
from tests.alerts.test_evaluate import evaluate
from tests.factories import ErrorLogEntryFactory

pytestmark = pytest.mark.django_db
PRODUCT = "Campaign Lifecycle Service"


@pytest.fixture
def webhook_receiver(httpserver) -> Receiver:
    rx = Receiver(url=httpserver.url_for("/webhook"))
    httpserver.expect_request("/webhook", method="POST").respond_with_handler(rx.handle)
    return rx


@pytest.fixture
def channels(receiver, webhook_receiver, smtp_server):
    """The migration's default channels, filled in: Slack, webhook and email all real."""
    configure_defaults(slack=receiver.url, webhook=webhook_receiver.url,
                       email="oncall@example.test")
    return receiver, webhook_receiver, smtp_server


def deliver(queue) -> None:
    queue.run("alerts.tasks.alert_deliver")
    assert not AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING).exists()


def mails(mailbox) -> list:
    return [email.message_from_string(m["data"], policy=policy.default)
            for m in mailbox.messages]


def body_of(message) -> str:
    return message.get_content().replace("\r\n", "\n")  # SMTP's line ends


def levels(received) -> list[str]:
    return sorted(r.json["level"] if "level" in r.json else r.json["text"].split()[0][1:]
                  for r in received)


# --- ServiceErrorHandler.handleWithFallback: "Fallback failed for <op>", HIGH ---------------


def test_seed_fallback_failed_is_high_when_the_guards_registered_fallback_raises(
        db, queue, channels):
    slack, webhook, mailbox = channels

    @register_fallback("seedtest.fallback_raises")
    def broken(ctx):
        raise RuntimeError("fallback exploded")

    with TestCase.captureOnCommitCallbacks(execute=True), pytest.raises(
            ValueError, match="original") as raised, resilience.guard("seedtest.fallback_raises"):
        raise ValueError("original")
    result = raised.value.faultline
    assert result.strategy == "FALLBACK" and not result.escalated
    assert ErrorLogEntry.objects.get(pk=result.entry_id).outcome == "FAILED"
    [alert_id] = queue.run("alerts.tasks.alerts_fallback_failed")
    alert = Alert.objects.get(pk=alert_id)
    assert (alert.kind, alert.level, alert.message) == (
        "fallback_failed", "HIGH", "Fallback failed for seedtest.fallback_raises")
    deliver(queue)
    assert [r.json["text"] for r in slack.received] == [
        "*HIGH Alert*: Fallback failed for seedtest.fallback_raises"]
    [hook] = webhook.received
    assert (hook.json["level"], hook.json["message"], hook.json["service"]) == (
        "HIGH", "Fallback failed for seedtest.fallback_raises", "campaign-lifecycle-service")
    assert hook.json["error"]["message"] == "original"
    assert mailbox.messages == []  # HIGH: Slack and webhook only


def test_seed_fallback_failed_is_high_when_the_guard_has_no_fallback_for_the_operation(
        db, queue, channels):
    slack, _, _ = channels
    with TestCase.captureOnCommitCallbacks(execute=True), pytest.raises(ValueError) as raised, \
            resilience.guard("seedtest.no_fallback", campaign_id="camp-8"):
        raise ValueError("no way round it")
    assert raised.value.faultline.strategy == "FALLBACK"
    [alert_id] = queue.run("alerts.tasks.alerts_fallback_failed")
    assert Alert.objects.get(pk=alert_id).message == "Fallback failed for seedtest.no_fallback"
    deliver(queue)
    [request] = slack.received
    fields = {f["title"]: f["value"] for f in request.json["attachments"][0]["fields"]}
    assert fields["Operation"] == "seedtest.no_fallback" and fields["Campaign ID"] == "camp-8"


def test_a_fallback_that_succeeds_raises_no_alert(db, queue, channels):
    with TestCase.captureOnCommitCallbacks(execute=True), resilience.guard(
            "database.write", payload={"row": 1}) as g:
        raise ValueError("bad row")
    assert g.result.handled
    assert "alerts.tasks.alerts_fallback_failed" not in queue.names()


def test_seed_fallback_failed_is_high_when_a_service_reports_its_fallback_failed_by_api(
        service, service_client, queue, channels):
    slack, webhook, _ = channels
    fallback = ErrorLogEntryFactory(service=service, strategy="FALLBACK", retryable=False,
                                    category="BUSINESS_LOGIC", severity="MEDIUM",
                                    code="ValidationError", operation="order.sync")
    retried = ErrorLogEntryFactory(service=service, strategy="RETRY", operation="order.sync")

    def report(entry, success: bool) -> None:
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = service_client.post(f"/api/v1/errors/{entry.pk}/outcome/",
                                           data=json.dumps({"success": success}),
                                           content_type="application/json")
        assert response.status_code == 200

    report(fallback, True)
    report(retried, False)  # the seed alerts on failed fallbacks, not failed retries
    assert queue.names() == []
    report(fallback, False)
    report(fallback, False)  # the same outcome again changes nothing
    assert queue.names() == ["alerts.tasks.alerts_fallback_failed"]
    [alert_id] = queue.run("alerts.tasks.alerts_fallback_failed")
    alert = Alert.objects.get(pk=alert_id)
    assert (alert.level, alert.message) == ("HIGH", "Fallback failed for order.sync")
    deliver(queue)
    assert [r.json["text"] for r in slack.received] == [
        "*HIGH Alert*: Fallback failed for order.sync"]
    [hook] = webhook.received
    assert hook.json["service"] == service.slug and hook.json["error"]["code"] == "ValidationError"


# --- handleWithDeadLetter: "Operation moved to dead letter queue: <op>", HIGH -------------


def test_seed_dead_letter_alert_is_high_whatever_the_errors_severity(service, queue, channels):
    slack, webhook, _ = channels
    entries(service, 2, strategy="DEAD_LETTER", category="DATA_CORRUPTION", severity="LOW",
            code="ChecksumMismatch", operation="ledger.post")
    [dead] = [a for a in evaluate(digest()) if a.kind == "dead_letter"]
    assert (dead.level, dead.message, dead.occurrences) == (
        "HIGH", "Operation moved to dead letter queue: ledger.post", 2)
    deliver(queue)
    assert "*HIGH Alert*: Operation moved to dead letter queue: ledger.post" in [
        r.json["text"] for r in slack.received]
    assert [r.json["message"] for r in webhook.received] == [
        "Operation moved to dead letter queue: ledger.post"]


def test_seed_dead_letter_alert_for_a_dead_letter_made_through_the_api(service, queue,
                                                                       channels):
    with TestCase.captureOnCommitCallbacks(execute=True):
        letter = dead_letter_create(service_id=service.pk, operation="order.sync",
                                    payload={"id": 1}, reason="gave up after 5 tries")
    alert = alerts_evaluate_dead_letter(dead_letter_id=letter.pk)
    assert (alert.level, alert.message) == ("HIGH",
                                            "Operation moved to dead letter queue: order.sync")
    assert json.loads(json.dumps(alert.content))["error_message"] == "gave up after 5 tries"


# --- handleWithImmediateAlert: "Critical error in <op>", CRITICAL --------------------------


def test_seed_immediate_alert_is_critical_error_in_op_even_for_a_high_security_error(
        service, queue, channels):
    slack, webhook, mailbox = channels
    entries(service, severity="HIGH", strategy="IMMEDIATE_ALERT", category="SECURITY",
            code="403", name="Forbidden", message="token revoked", operation="auth.verify",
            campaign_id="camp-5", component="gateway")
    [alert] = evaluate(digest())
    assert (alert.kind, alert.level, alert.message) == (
        "immediate", "CRITICAL", "Critical error in auth.verify")
    deliver(queue)
    [mail] = mails(mailbox)
    assert mail["Subject"] == f"[CRITICAL] {service.name} Alert"
    assert body_of(mail).startswith(
        "Alert Level: CRITICAL\nMessage: Critical error in auth.verify\nTimestamp: ")
    assert "Context:\n  Operation: auth.verify\n  Campaign ID: camp-5\n  Component: gateway\n" \
        in body_of(mail)
    assert [r.json["text"] for r in slack.received] == [
        "*CRITICAL Alert*: Critical error in auth.verify"]
    assert slack.received[0].json["attachments"][0]["color"] == "danger"
    assert [r.json["level"] for r in webhook.received] == ["CRITICAL"]


# --- escalateError: "Error handling system failure", CRITICAL ------------------------------


def test_seed_escalation_is_critical_error_handling_system_failure(db, queue, channels):
    slack, webhook, mailbox = channels
    # attempt_count that is not a number: recording the error fails, so the handling did.
    with pytest.raises(ValueError, match="original") as raised, resilience.guard(
            "timer.execute", attempt_count="three", campaign_id="camp-1"):
        raise ValueError("original")
    assert raised.value.faultline.escalated
    assert ErrorLogEntry.objects.get().code == "FAULTLINE_HANDLER_FAILURE"
    [alert] = evaluate(digest())
    assert (alert.kind, alert.level, alert.message) == (
        "escalation", "CRITICAL", "Error handling system failure")
    deliver(queue)
    [mail] = mails(mailbox)
    assert mail["Subject"] == f"[CRITICAL] {PRODUCT} Alert"  # the guard is Faultline itself
    assert body_of(mail).startswith("Alert Level: CRITICAL\n"
                                    "Message: Error handling system failure\n")
    assert "  Operation: timer.execute\n" in body_of(mail)
    assert [r.json["text"] for r in slack.received] == [
        "*CRITICAL Alert*: Error handling system failure"]
    [hook] = webhook.received
    assert (hook.json["message"], hook.json["error"]["code"]) == (
        "Error handling system failure", "FAULTLINE_HANDLER_FAILURE")


# --- AlertSystem.determineChannels --------------------------------------------------------


def test_seed_routing_critical_email_slack_webhook_high_slack_webhook_medium_slack_low_log(
        service, queue, channels):
    slack, webhook, mailbox = channels
    for severity in ("CRITICAL", "HIGH", "MEDIUM", "LOW"):
        entries(service, severity=severity, strategy="FALLBACK", code=f"E_{severity}",
                operation=f"op.{severity.lower()}")
    alerts = {a.level: a for a in evaluate(digest())}
    deliver(queue)
    assert [m["Subject"] for m in mails(mailbox)] == [f"[CRITICAL] {service.name} Alert"]
    assert levels(slack.received) == ["CRITICAL", "HIGH", "MEDIUM"]
    assert levels(webhook.received) == ["CRITICAL", "HIGH"]
    assert alerts["LOW"].status == Alert.Status.LOGGED
    assert not alerts["LOW"].deliveries.exists()


# --- payload details the receivers see ----------------------------------------------------


def test_seed_timestamp_and_ts_are_when_the_alert_is_sent(service, queue, channels):
    slack, webhook, _ = channels
    entries(service, timestamp=timezone.now() - timedelta(hours=3))
    [alert] = evaluate(digest())
    sent = datetime(2031, 5, 6, 7, 8, 9, 123_000, tzinfo=UTC)
    for delivery in alert.deliveries.all():
        assert alert_delivery_send(delivery_id=delivery.pk, now=sent).status == "SENT"
    attachment = slack.received[0].json["attachments"][0]
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields["Timestamp"] == "2031-05-06T07:08:09.123Z"
    assert attachment["ts"] == int(sent.timestamp())
    hook = webhook.received[0].json
    assert hook["timestamp"] == "2031-05-06T07:08:09.123Z"
    assert hook["occurred_at"] == iso_timestamp(ErrorLogEntry.objects.get().timestamp)


def test_seed_slack_text_from_reporters_is_escaped_so_it_cannot_ping(service, queue, receiver):
    configure_defaults(slack=receiver.url)
    entries(service, message="<!channel> disk full & <@U042>", operation="<!here>",
            campaign_id="<!everyone>")
    evaluate(digest())
    deliver(queue)
    [request] = receiver.received
    text = request.body.decode()
    for ping in ("<!channel>", "<!here>", "<!everyone>", "<@U042>"):
        assert ping not in text
    body = request.json
    assert body["text"] == "*HIGH Alert*: &lt;!channel&gt; disk full &amp; &lt;@U042&gt;"
    fields = {f["title"]: f["value"] for f in body["attachments"][0]["fields"]}
    assert fields["Operation"] == "&lt;!here&gt;"
    assert fields["Campaign ID"] == "&lt;!everyone&gt;"


def test_faultlines_own_alerts_name_the_product_which_is_configurable(db, queue, channels,
                                                                      settings):
    from alerts.hooks import operational_alert

    _, webhook, mailbox = channels
    operational_alert(title="Redis still down", detail="reconnect failed", source="recovery")
    queue.run("alerts.tasks.alerts_operational")
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_PRODUCT_NAME": "Acme Faultline"}
    operational_alert(title="Broker still down", detail="reconnect failed", source="recovery")
    queue.run("alerts.tasks.alerts_operational")
    deliver(queue)
    assert sorted(m["Subject"] for m in mails(mailbox)) == [
        "[CRITICAL] Acme Faultline Alert", f"[CRITICAL] {PRODUCT} Alert"]
    assert sorted(r.json["service"] for r in webhook.received) == [
        "acme-faultline", "campaign-lifecycle-service"]


# --- the departure kept: throttling, and its switch back to the seed ----------------------


def test_throttled_by_default_and_switched_off_every_alert_is_sent_like_the_seed(
        service, queue, channels, settings):
    entries(service, **CRITICAL)
    t0 = timezone.now()
    [first] = evaluate(digest(), now=t0)
    entries(service, **CRITICAL)
    assert evaluate(digest(), now=t0 + timedelta(minutes=1)) == []  # inside the window
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_THROTTLE_ENABLED": False}
    entries(service, **CRITICAL)
    [second] = evaluate(digest(), now=t0 + timedelta(minutes=2))
    entries(service, **CRITICAL)
    [third] = evaluate(digest(), now=t0 + timedelta(minutes=2))
    assert [a.message for a in (first, second, third)] == ["Critical error in auth.verify"] * 3
    assert second.previous_count == 1  # what the window held back is still said
    assert third.previous_count == 0
