"""alerts/formatting.py: what each channel says, the seed's AlertSystem field for field
first, then Faultline's additions (pure, no database)."""

from datetime import UTC, datetime, timedelta

import pytest

from alerts.formatting import (
    SLACK_COLOURS,
    AlertContent,
    email_body,
    email_subject,
    iso_timestamp,
    slack_colour,
    slack_escape,
    slack_fields,
    slack_payload,
    summary,
    webhook_payload,
)

AT = datetime(2025, 3, 4, 11, 5, 0, tzinfo=UTC)
SENT = datetime(2025, 3, 4, 11, 6, 30, 250_000, tzinfo=UTC)


def content(**overrides) -> AlertContent:
    values = dict(
        kind="immediate", level="CRITICAL", title="Critical error in payment.charge: ECONNREFUSED",
        message="Critical error in payment.charge", timestamp=AT, service="payments",
        service_name="Payments API", environment="production", category="EXTERNAL_DEPENDENCY",
        code="ECONNREFUSED", error_name="ConnectionError",
        error_message="connect ECONNREFUSED 10.0.0.7:5432", operation="payment.charge",
        campaign_id="camp-42", component="billing", occurrences=3,
        link="https://faultline.example/admin/resilience/errorgroup/7/change/",
        group_key="faultline:payments:abc123", alert_id=99, sent_at=SENT,
    )
    values.update(overrides)
    return AlertContent(**values)


# --- email: sendEmailAlert / formatEmailBody --------------------------------------------


def test_email_subject_is_level_and_service_name_then_alert():
    assert email_subject(content()) == "[CRITICAL] Payments API Alert"
    assert email_subject(content(level="HIGH", service_name="Campaign Lifecycle Service")) \
        == "[HIGH] Campaign Lifecycle Service Alert"


def test_email_subject_falls_back_to_the_slug_and_never_holds_a_line_break():
    assert email_subject(content(service_name="")) == "[CRITICAL] payments Alert"
    assert "\n" not in email_subject(content(service_name="two\nlines"))


def test_email_body_is_the_seeds_format_body_line_for_line():
    assert email_body(content()).startswith(
        "Alert Level: CRITICAL\n"
        "Message: Critical error in payment.charge\n"
        "Timestamp: 2025-03-04T11:06:30.250Z\n"
        "\n"
        "Error Details:\n"
        "  Category: EXTERNAL_DEPENDENCY\n"
        "  Code: ECONNREFUSED\n"
        "  Message: connect ECONNREFUSED 10.0.0.7:5432\n"
        "\n"
        "Context:\n"
        "  Operation: payment.charge\n"
        "  Campaign ID: camp-42\n"
        "  Component: billing\n"
    )


def test_email_body_says_na_for_a_missing_campaign_or_component():
    body = email_body(content(campaign_id="", component=""))
    assert "  Campaign ID: N/A\n  Component: N/A\n" in body


def test_email_body_leaves_out_error_details_and_context_when_there_are_none():
    body = email_body(content(category="", code="", error_message="", operation="",
                              campaign_id="", component=""))
    assert "Error Details:" not in body and "Context:" not in body
    assert body.startswith("Alert Level: CRITICAL\nMessage: Critical error in payment.charge\n")


def test_email_body_keeps_faultlines_additions_after_the_seeds_fields():
    c = content(previous_count=57, previous_since=datetime(2025, 3, 4, 10, 42, tzinfo=UTC),
                extra={"group_id": 7})
    body = email_body(c)
    details = body[body.index("\nDetails:\n"):]
    for expected in ("Title: Critical error in payment.charge: ECONNREFUSED",
                     "Alert: immediate", "Service: Payments API", "Environment: production",
                     "Occurrences: 3", "Held back: and 57 more since 10:42 UTC",
                     "Occurred at: 2025-03-04T11:05:00.000Z", "group_id: 7",
                     "Open in Faultline: https://faultline.example/admin/resilience/"
                     "errorgroup/7/change/", "Group key: faultline:payments:abc123"):
        assert expected in details
    assert body.index("Context:") < body.index("\nDetails:\n")


def test_the_timestamp_is_the_send_time_as_javascripts_to_iso_string():
    assert iso_timestamp(SENT) == "2025-03-04T11:06:30.250Z"
    assert iso_timestamp(SENT.astimezone(UTC).replace(tzinfo=None)) == "2025-03-04T11:06:30.250Z"
    preview = content(sent_at=None)  # not sent yet: the alert's own moment stands in
    assert "Timestamp: 2025-03-04T11:05:00.000Z" in email_body(preview)


# --- Slack: sendSlackAlert / getSlackColor / formatSlackFields ---------------------------


def test_slack_text_is_bold_level_alert_then_the_message():
    assert slack_payload(content())["text"] == "*CRITICAL Alert*: Critical error in payment.charge"


@pytest.mark.parametrize("level,colour", [("CRITICAL", "danger"), ("HIGH", "warning"),
                                          ("MEDIUM", "#ffcc00"), ("LOW", "good"),
                                          ("UNKNOWN", "#cccccc")])
def test_slack_attachment_colour_is_get_slack_color(level, colour):
    assert slack_payload(content(level=level))["attachments"][0]["color"] == colour
    assert slack_colour(level) == colour
    assert SLACK_COLOURS.get(level, "#cccccc") == colour


def test_slack_fields_are_format_slack_fields_in_order_all_short():
    assert slack_fields(content()) == [
        {"title": "Level", "value": "CRITICAL", "short": True},
        {"title": "Timestamp", "value": "2025-03-04T11:06:30.250Z", "short": True},
        {"title": "Error Category", "value": "EXTERNAL_DEPENDENCY", "short": True},
        {"title": "Error Code", "value": "ECONNREFUSED", "short": True},
        {"title": "Operation", "value": "payment.charge", "short": True},
        {"title": "Campaign ID", "value": "camp-42", "short": True},
    ]
    attachment = slack_payload(content())["attachments"][0]
    assert attachment["fields"][:6] == slack_fields(content())
    assert attachment["ts"] == int(SENT.timestamp())


def test_slack_campaign_id_only_when_set_and_no_error_fields_without_an_error():
    titles = [f["title"] for f in slack_fields(content(campaign_id=""))]
    assert titles == ["Level", "Timestamp", "Error Category", "Error Code", "Operation"]
    bare = content(category="", code="", error_message="", operation="", campaign_id="",
                   component="")
    assert [f["title"] for f in slack_fields(bare)] == ["Level", "Timestamp"]


def test_slack_keeps_faultlines_additions_after_the_seeds_fields():
    c = content(previous_count=57, previous_since=datetime(2025, 3, 4, 10, 42, tzinfo=UTC))
    attachment = slack_payload(c)["attachments"][0]
    extra = {f["title"]: f["value"] for f in attachment["fields"][6:]}
    assert extra == {
        "Service": "Payments API", "Component": "billing", "Occurrences": "3",
        "Link": "<https://faultline.example/admin/resilience/errorgroup/7/change/"
                "|Open in Faultline>",
    }
    assert attachment["text"] == ("connect ECONNREFUSED 10.0.0.7:5432\n"
                                  "(and 57 more since 10:42 UTC)")
    assert attachment["title_link"].endswith("/errorgroup/7/change/")


def test_slack_control_sequences_in_reported_text_are_escaped():
    hostile = "<!channel> wake up & <https://evil.example|click>"
    payload = slack_payload(content(message=f"Critical error in {hostile}",
                                    error_message=hostile, operation=hostile,
                                    campaign_id="<@U123>", title=hostile))
    escaped = "&lt;!channel&gt; wake up &amp; &lt;https://evil.example|click&gt;"
    assert payload["text"] == f"*CRITICAL Alert*: Critical error in {escaped}"
    attachment = payload["attachments"][0]
    assert attachment["title"] == escaped
    assert attachment["text"] == escaped
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields["Operation"] == escaped and fields["Campaign ID"] == "&lt;@U123&gt;"
    everything = repr(payload).replace("<https://faultline.example/admin/resilience/"
                                       "errorgroup/7/change/|Open in Faultline>", "")
    assert "<!" not in everything and "<@" not in everything and "<h" not in everything


def test_slack_escaping_is_amp_lt_gt_once():
    assert slack_escape("a < b > c & d") == "a &lt; b &gt; c &amp; d"
    assert slack_escape("&lt;") == "&amp;lt;"  # reported text is escaped, not interpreted


# --- webhook: sendWebhookAlert -----------------------------------------------------------


def test_webhook_body_has_the_seeds_keys():
    payload = webhook_payload(content(extra={"group_id": 7}))
    assert payload["level"] == "CRITICAL"
    assert payload["message"] == "Critical error in payment.charge"
    assert payload["timestamp"] == "2025-03-04T11:06:30.250Z"
    assert payload["error"] == {"category": "EXTERNAL_DEPENDENCY", "code": "ECONNREFUSED",
                                "message": "connect ECONNREFUSED 10.0.0.7:5432",
                                "name": "ConnectionError"}
    assert payload["context"] == {"operation": "payment.charge", "campaign_id": "camp-42",
                                  "component": "billing", "group_id": 7}
    assert payload["service"] == "payments"
    assert list(payload)[:6] == ["level", "message", "timestamp", "error", "context", "service"]


def test_webhook_keeps_faultlines_additions():
    c = content(previous_count=57, previous_since=datetime(2025, 3, 4, 10, 42, tzinfo=UTC))
    payload = webhook_payload(c)
    assert payload["version"] == "1"
    assert payload["kind"] == "immediate"
    assert payload["alert_id"] == 99
    assert payload["group_key"] == "faultline:payments:abc123"
    assert payload["occurred_at"] == "2025-03-04T11:05:00.000Z"
    assert payload["service_name"] == "Payments API"
    assert payload["summary"].endswith("(and 57 more since 10:42 UTC)")
    assert payload["previous"] == {"count": 57, "since": "2025-03-04T10:42:00.000Z"}
    assert webhook_payload(content())["previous"] is None


# --- the throttle's count, stored content ---------------------------------------------------


def test_a_count_from_another_day_names_the_date():
    c = content(previous_count=2, previous_since=datetime(2025, 3, 3, 23, 59, tzinfo=UTC))
    assert "since 2025-03-03 23:59 UTC" in summary(c)


def test_no_count_no_note():
    assert summary(content()) == "Critical error in payment.charge"


def test_content_survives_its_json_round_trip():
    c = content(previous_count=1, previous_since=AT, extra={"a": 1},
                sent_at=AT + timedelta(seconds=1))
    assert AlertContent.from_json(c.to_json()) == c


def test_content_stored_before_service_name_and_sent_at_still_loads():
    stored = content().to_json()
    del stored["service_name"], stored["sent_at"]
    loaded = AlertContent.from_json(stored)
    assert loaded.service_name == "" and loaded.sent_at is None
    assert email_subject(loaded) == "[CRITICAL] payments Alert"
