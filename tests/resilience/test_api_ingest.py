"""POST /api/v1/errors/: accept, classify, decide, store — or refuse with a clear 4xx.

The core cases take `write_path`: they run in the test's transaction, with real commits,
and with real commits through the group committer (tests/write_paths.py), and each time
what was answered is what is stored.
"""

import json

import pytest
from django.test import Client

from resilience.models import ErrorLogEntry
from tests import factories
from tests.write_paths import assert_stored_as_answered

URL = "/api/v1/errors/"


def post(client, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **extra)


def test_it_accepts_one_report_and_answers_what_to_do(write_path, service_client, service):
    response = post(
        service_client,
        {"code": "ECONNREFUSED", "message": "connect refused", "operation": "database.write"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["category"] == "TRANSIENT"  # the seed's row, severity from the category
    assert body["severity"] == "LOW"
    assert body["retryable"] is True
    assert body["recoverable"] is True
    assert body["strategy"] == "RETRY"
    assert 1000 <= body["retry_after_ms"] <= 1100
    assert body["circuit"] == "CLOSED"
    entry = ErrorLogEntry.objects.get(pk=body["id"])
    assert entry.service == service
    assert entry.event_id == body["event_id"]
    assert entry.operation == "database.write"
    assert entry.digested_at is None
    assert_stored_as_answered(write_path, [body])


def test_it_accepts_every_documented_field(service_client):
    report = {
        "event_id": "evt-1",
        "code": 503,
        "name": "HTTPError",
        "status": 503,
        "errno": 111,
        "message": "upstream unavailable",
        "stack_trace": 'Traceback (most recent call last):\n  File "a.py", line 1, in f\n',
        "operation": "campaign.update",
        "component": "scheduler",
        "campaign_id": 42,
        "timer_id": "t-9",
        "user_id": "u-1",
        "attempt_count": 2,
        "environment": "production",
        "release": "1.4.2",
        "context": {"region": "eu"},
        "payload": {"campaign": 42, "fields": ["status"]},
        "tags": {"team": "growth"},
        "fingerprint": ["{{ default }}", "eu"],
        "cause": {"code": "ETIMEDOUT", "message": "timed out", "cause": {"errno": 110}},
        "timestamp": "2026-11-28T10:00:00Z",
    }
    response = post(service_client, report)
    assert response.status_code == 201, response.content
    entry = ErrorLogEntry.objects.get(pk=response.json()["id"])
    assert entry.code == "503"
    assert entry.http_status == 503
    assert entry.errno == "111"
    assert entry.campaign_id == "42"
    assert entry.attempt_count == 2
    assert entry.payload == {"campaign": 42, "fields": ["status"]}
    assert entry.cause["cause"] == {"errno": 110}
    assert entry.classification["cause"]["cause"]["code"] == "ETIMEDOUT"
    assert entry.extra["tags"] == {"team": "growth"}
    assert entry.fingerprint == ["{{ default }}", "eu"]
    assert entry.timestamp.isoformat() == "2026-11-28T10:00:00+00:00"
    assert entry.classification["cause"]["code"] == "ETIMEDOUT"


def test_it_accepts_a_batch_and_answers_in_order(write_path, service_client):
    reports = [
        {"code": "ECONNRESET", "operation": "event.publish"},
        {"code": "401", "operation": "auth"},
        {"name": "IntegrityError", "operation": "database.write"},
        {"code": "ValidationError", "operation": "campaign.update"},
        {"code": "ETIMEDOUT", "attempt_count": 3},
    ]
    response = post(service_client, reports)
    assert response.status_code == 201, response.content
    strategies = [r["strategy"] for r in response.json()]
    assert strategies == ["RETRY", "IMMEDIATE_ALERT", "FALLBACK", "FALLBACK", "FALLBACK"]
    assert len({r["id"] for r in response.json()}) == 5
    assert_stored_as_answered(write_path, response.json())


def test_a_resent_event_is_stored_once_and_answered_the_same(write_path, service_client):
    report = {"event_id": "abc-123", "code": "ECONNREFUSED", "operation": "database.write"}
    first = post(service_client, report)
    second = post(service_client, report)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["strategy"] == second.json()["strategy"]
    assert_stored_as_answered(write_path, [first.json()])


def test_a_batch_repeating_an_event_id_stores_it_once(write_path, service_client):
    report = {"event_id": "dup", "code": "ECONNRESET"}
    response = post(service_client, [report, report, {"event_id": "other"}])
    assert response.status_code == 201, response.content
    ids = [r["id"] for r in response.json()]
    assert ids[0] == ids[1] != ids[2]
    assert_stored_as_answered(write_path, response.json())


def test_the_same_event_id_from_two_services_is_two_entries(service_client):
    other_key = factories.service_key(factories.ServiceFactory())[1]
    other = Client(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    post(service_client, {"event_id": "shared"})
    post(other, {"event_id": "shared"})
    assert ErrorLogEntry.objects.count() == 2


def test_it_refuses_a_report_without_a_key(db):
    response = post(Client(), {"code": "X"})
    assert response.status_code == 401
    assert "Bearer" in response["WWW-Authenticate"]
    assert ErrorLogEntry.objects.count() == 0


def test_it_refuses_an_unknown_key(db):
    response = post(Client(HTTP_AUTHORIZATION="Bearer fl_nope"), {"code": "X"})
    assert response.status_code == 401
    assert response.json()["message"] == "Unknown service key."


def test_it_refuses_a_revoked_key(api_key, service_client):
    from resilience.ingest.keys import service_key_revoke

    service_key_revoke(key=api_key[0], actor=None)
    response = post(service_client, {"code": "X"})
    assert response.status_code == 403
    assert "revoked" in response.json()["message"]
    assert ErrorLogEntry.objects.count() == 0


def test_an_operator_session_cannot_report(db, triager):
    client = Client()
    client.force_login(triager)
    assert post(client, {"code": "X"}).status_code == 403


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"bogus": 1}, "report.bogus", "unknown field"),
        ({"attempt_count": "2"}, "report.attempt_count", "must be an integer"),
        ({"attempt_count": -1}, "report.attempt_count", "at least 0"),
        ({"status": 99}, "report.status", "at least 100"),
        ({"status": True}, "report.status", "must be an integer"),
        ({"message": ["a"]}, "report.message", "must be a string"),
        ({"context": "x"}, "report.context", "JSON object"),
        ({"timestamp": "yesterday"}, "report.timestamp", "RFC 3339"),
        ({"event_id": "has space"}, "report.event_id", "letters, digits"),
        ({"fingerprint": [1]}, "report.fingerprint", "list of strings"),
        ({"cause": {"nope": 1}}, "report.cause.nope", "unknown field"),
        ({"cause": "x"}, "report.cause", "nested error"),
        ({"operation": "x" * 201}, "report.operation", "longer than 200"),
        ([{"code": "A"}, {"code": {}}], "reports[1].code", "string or an integer"),
        ([], "body", "empty"),
        ("42", "body", "report object or a list"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(
    service_client, body, field, words
):
    response = post(service_client, body)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert words in response.json()["message"]
    assert ErrorLogEntry.objects.count() == 0


def test_a_batch_with_one_bad_report_stores_none_of_it(write_path, service_client):
    response = post(service_client, [{"code": "A"}] * 10 + [{"attempt_count": "x"}])
    assert response.status_code == 400
    assert response.json()["field"] == "reports[10].attempt_count"
    assert_stored_as_answered(write_path, [])


def test_a_batch_over_the_limit_is_refused(service_client, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_MAX_BATCH": 3}
    response = post(service_client, [{"code": "A"}] * 4)
    assert response.status_code == 400
    assert "at most 3" in response.json()["message"]
    assert ErrorLogEntry.objects.count() == 0


def test_a_body_over_the_limit_is_a_413(service_client, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_MAX_BODY_BYTES": 100}
    response = post(service_client, {"message": "x" * 200})
    assert response.status_code == 413
    assert "limit of 100" in response.json()["message"] or "100" in response.json()["message"]
    assert ErrorLogEntry.objects.count() == 0


def test_malformed_json_is_a_400_that_says_where(service_client):
    response = post(service_client, '{"code": ')
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


def test_a_non_json_content_type_is_a_415(service_client):
    response = service_client.post(URL, data="code=1", content_type="text/plain")
    assert response.status_code == 415


def test_operator_rules_override_the_default_table(service_client):
    from resilience.models import ClassificationRule

    ClassificationRule.objects.create(code="ECONNREFUSED", category="SECURITY", severity="LOW")
    body = post(service_client, {"code": "ECONNREFUSED"}).json()
    assert body["category"] == "SECURITY"
    assert body["strategy"] == "IMMEDIATE_ALERT"
