"""A reporter's text in alerts: Slack never reads it as a mention or a link, and email
carries it without failing the send, in every field."""

import email
from dataclasses import fields
from datetime import UTC, datetime
from email import policy

import pytest
from django.test import TestCase

from alerts.formatting import AlertContent, email_body, email_subject, slack_payload
from alerts.models import Channel
from alerts.services.delivery import alert_delivery_send
from alerts.services.evaluate import alerts_evaluate_dead_letter
from alerts.transports.email import EmailTransport
from resilience.dead_letters.services import dead_letter_create
from tests.alerts.conftest import configure_defaults, rule
from tests.factories import ServiceFactory

AT = datetime(2025, 3, 4, 11, 5, 0, tzinfo=UTC)
HOSTILE = "<!channel> <!here|here> <@U024BE7LH> <#C024BE7LR> <https://evil.test|Open in Faultline>"
TEXT_FIELDS = [f.name for f in fields(AlertContent)
               if f.type == "str" and f.name not in ("kind", "level", "link")]
# The fields the seed's Slack message (and Faultline's attachment) shows.
SLACK_SHOWN = {"title", "message", "error_message", "operation", "campaign_id", "component",
               "service_name", "code", "category"}


def content(**overrides) -> AlertContent:
    values = dict(kind="dead_letter", level="HIGH", title="t", message="m", timestamp=AT,
                  service="payments", service_name="Payments", category="DATA_CORRUPTION",
                  code="E1", error_message="e", operation="pay.charge", campaign_id="c-1",
                  component="billing", occurrences=2,
                  link="https://faultline.example/admin/resilience/deadletter/7/change/",
                  group_key="faultline:dead_letter:payments:pay.charge")
    values.update(overrides)
    return AlertContent(**values)


def strings(node):
    """Every string in a Slack payload, with the one place that is ours (the link)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "title_link" or (node.get("title") == "Link" and key == "value"):
                continue
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_slack_reads_no_control_sequence_from_any_field(field):
    payload = slack_payload(content(**{field: HOSTILE}))
    for text in strings(payload):
        assert "<" not in text and ">" not in text, (field, text)
    escaped = HOSTILE.replace("<", "&lt;").replace(">", "&gt;")
    shown = any(escaped in text for text in strings(payload))
    assert shown == (field in SLACK_SHOWN)  # shown, as text, wherever Slack shows it


def test_slack_shows_the_text_escaped_in_the_message_and_the_attachment():
    payload = slack_payload(content(message=f"Critical error in {HOSTILE}",
                                    error_message=HOSTILE, operation=HOSTILE))
    assert payload["text"].startswith("*HIGH Alert*: Critical error in &lt;!channel&gt; ")
    assert "&lt;https://evil.test|Open in Faultline&gt;" in payload["text"]
    [attachment] = payload["attachments"]
    assert attachment["text"].startswith("&lt;!channel&gt;")
    values = {f["title"]: f["value"] for f in attachment["fields"]}
    assert values["Operation"].startswith("&lt;!channel&gt;")
    # The one link sequence is ours, and goes where the alert is.
    assert values["Link"] == ("<https://faultline.example/admin/resilience/deadletter/7/change/"
                              "|Open in Faultline>")


def test_already_escaped_text_is_escaped_again_not_decoded():
    payload = slack_payload(content(message="&lt;!channel&gt;"))
    assert payload["text"] == "*HIGH Alert*: &amp;lt;!channel&amp;gt;"


def test_an_email_subject_is_one_line_whatever_the_service_is_called():
    subject = email_subject(content(service_name="Payments\r\nBcc: attacker@evil.test\x00"
                                                 "\u2028X: y"))
    assert "\n" not in subject and "\r" not in subject and "\x00" not in subject
    assert subject.startswith("[HIGH] Payments Bcc: attacker@evil.test")


@pytest.mark.django_db
def test_an_email_with_control_characters_and_lone_surrogates_is_built_and_sent(mailoutbox):
    channel = Channel(kind="EMAIL", name="mail", recipients="ops@example.test")
    hostile = content(service_name="Pay\r\nBcc: attacker@evil.test",
                      error_message="bad \x00 byte, lone \ud800 surrogate, bell \x07\rend",
                      operation="op\r\n.\r\nMAIL FROM:<x@evil.test>")
    transport = EmailTransport(channel)
    message = transport.build(hostile)
    raw = message.message().as_bytes()  # Django's BadHeaderError would raise here
    transport.send(message, now=0)
    [sent] = mailoutbox
    assert sent.to == ["ops@example.test"] and not sent.bcc
    header_lines = raw.split(b"\n\n", 1)[0].split(b"\n")
    assert not [line for line in header_lines if line.lower().startswith(b"bcc:")]
    body = email_body(hostile)
    assert "\x00" not in body and "\ud800" not in body and "\r" not in body
    assert "bad \ufffd byte, lone \ufffd surrogate, bell \ufffd\nend" in body


@pytest.fixture
def hostile_service(db):
    return ServiceFactory(name="Payments\r\nBcc: attacker@evil.test")


def test_a_hostile_dead_letter_reaches_slack_escaped_and_email_in_one_piece(
    hostile_service, queue, receiver, smtp_server
):
    channels = configure_defaults(slack=receiver.url, email="oncall@example.test")
    rule("HIGH by email too", levels=["HIGH"], channels=[channels["EMAIL"]])
    with TestCase.captureOnCommitCallbacks(execute=True):
        letter = dead_letter_create(service_id=hostile_service.pk, operation=f"pay {HOSTILE}",
                                    payload={"id": 1}, reason=f"gave up: {HOSTILE}\r\nBcc: x")
    alert = alerts_evaluate_dead_letter(dead_letter_id=letter.pk)
    deliveries = alert.deliveries.filter(channel_kind__in=["SLACK", "EMAIL"])
    assert sorted(d.channel_kind for d in deliveries) == ["EMAIL", "SLACK"]
    for delivery in deliveries:
        assert alert_delivery_send(delivery_id=delivery.pk).status == "SENT", delivery
    [request] = receiver.received
    for text in strings(request.json):
        assert "<" not in text and ">" not in text, text
    assert "&lt;!channel&gt;" in request.json["text"]
    [mail] = smtp_server.messages
    assert mail["to"] == ["oncall@example.test"]
    parsed = email.message_from_string(mail["data"], policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "[HIGH] Payments Bcc: attacker@evil.test Alert"
    assert "&lt;" not in parsed.get_content()  # email is plain text: shown as it was
