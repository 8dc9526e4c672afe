"""alerts/formatting.py: what each channel says (pure, no database)."""

from datetime import UTC, datetime

import pytest

from alerts.formatting import (
    LEVEL_COLOURS,
    AlertContent,
    email_body,
    email_subject,
    slack_payload,
    summary,
    webhook_payload,
)

AT = datetime(2025, 3, 4, 11, 5, 0, tzinfo=UTC)


def content(**overrides) -> AlertContent:
    values = dict(
        kind="new_group", level="CRITICAL", title="New error: ECONNREFUSED in payment.charge",
        message="connect ECONNREFUSED 10.0.0.7:5432", timestamp=AT, service="payments",
        environment="production", category="EXTERNAL_DEPENDENCY", code="ECONNREFUSED",
        error_name="ConnectionError", error_message="connect ECONNREFUSED 10.0.0.7:5432",
        operation="payment.charge", campaign_id="camp-42", component="billing",
        occurrences=3, link="https://faultline.example/admin/resilience/errorgroup/7/change/",
        group_key="faultline:payments:abc123", alert_id=99,
    )
    values.update(overrides)
    return AlertContent(**values)


def test_the_email_subject_follows_the_seed():
    assert email_subject(content()) == (
        "[CRITICAL] Faultline alert: New error: ECONNREFUSED in payment.charge")


def test_a_title_with_line_breaks_cannot_break_the_subject():
    assert "\n" not in email_subject(content(title="two\nlines"))


def test_the_email_body_holds_level_message_time_error_context_and_link():
    body = email_body(content())
    for expected in ("Level:", "CRITICAL", "Message:", "connect ECONNREFUSED 10.0.0.7:5432",
                     "Timestamp:", "2025-03-04T11:05:00+00:00", "Category:",
                     "EXTERNAL_DEPENDENCY", "Code:", "ECONNREFUSED", "Operation:",
                     "payment.charge", "Campaign:", "camp-42", "Component:", "billing",
                     "Open in Faultline: https://faultline.example/admin/resilience/"
                     "errorgroup/7/change/"):
        assert expected in body


def test_the_throttled_count_is_said_once_the_window_is_over():
    c = content(previous_count=57, previous_since=datetime(2025, 3, 4, 10, 42, tzinfo=UTC))
    assert summary(c).endswith("(and 57 more since 10:42 UTC)")
    assert "and 57 more since 10:42 UTC" in email_body(c)
    assert "and 57 more" in slack_payload(c)["attachments"][0]["text"]
    assert webhook_payload(c)["previous"] == {"count": 57,
                                              "since": "2025-03-04T10:42:00+00:00"}


def test_a_count_from_another_day_names_the_date():
    c = content(previous_count=2, previous_since=datetime(2025, 3, 3, 23, 59, tzinfo=UTC))
    assert "since 2025-03-03 23:59 UTC" in summary(c)


def test_no_count_no_note():
    assert summary(content()) == "connect ECONNREFUSED 10.0.0.7:5432"
    assert webhook_payload(content())["previous"] is None


@pytest.mark.parametrize("level,colour", [("CRITICAL", "danger"), ("HIGH", "warning"),
                                          ("MEDIUM", "#ffcc00"), ("LOW", "good")])
def test_slack_uses_the_levels_colour(level, colour):
    assert slack_payload(content(level=level))["attachments"][0]["color"] == colour
    assert LEVEL_COLOURS[level] == colour


def test_slack_carries_the_seeds_fields():
    attachment = slack_payload(content())["attachments"][0]
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields == {
        "Level": "CRITICAL", "Category": "EXTERNAL_DEPENDENCY", "Code": "ECONNREFUSED",
        "Operation": "payment.charge", "Campaign": "camp-42", "Component": "billing",
        "Occurrences": "3",
        "Link": "<https://faultline.example/admin/resilience/errorgroup/7/change/"
                "|Open in Faultline>",
    }
    assert attachment["ts"] == int(AT.timestamp())
    assert attachment["title_link"].endswith("/errorgroup/7/change/")


def test_empty_slack_fields_show_a_dash():
    fields = {f["title"]: f["value"] for f in
              slack_payload(content(campaign_id=""))["attachments"][0]["fields"]}
    assert fields["Campaign"] == "-"


def test_the_webhook_payload_is_versioned_with_a_stable_group_key():
    payload = webhook_payload(content(extra={"group_id": 7}))
    assert payload["version"] == "1"
    assert payload["kind"] == "new_group"
    assert payload["group_key"] == "faultline:payments:abc123"
    assert payload["alert_id"] == 99
    assert payload["level"] == "CRITICAL"
    assert payload["timestamp"] == "2025-03-04T11:05:00+00:00"
    assert payload["service"] == "payments"
    assert payload["error"] == {"category": "EXTERNAL_DEPENDENCY", "code": "ECONNREFUSED",
                                "message": "connect ECONNREFUSED 10.0.0.7:5432",
                                "name": "ConnectionError"}
    assert payload["context"] == {"operation": "payment.charge", "campaign_id": "camp-42",
                                  "component": "billing", "group_id": 7}


def test_content_survives_its_json_round_trip():
    c = content(previous_count=1, previous_since=AT, extra={"a": 1})
    assert AlertContent.from_json(c.to_json()) == c
