"""POST /api/v1/errors/ with hostile bodies, on PostgreSQL: a 4xx that names what is wrong
(or a documented repair), never a 500, and other reports and requests still stored."""

import json
import threading
from datetime import UTC, datetime

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from resilience.digest.service import digest_batch
from resilience.models import ErrorLogEntry
from tests import factories
from tests.resilience.hostile import refused

URL = "/api/v1/errors/"
pytestmark = pytest.mark.usefixtures("postgres")


def post(client, body):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json")


def stored_ok(client, **fields) -> ErrorLogEntry:
    response = post(client, {"code": "ECONNREFUSED", **fields})
    assert response.status_code == 201, response.content
    return ErrorLogEntry.objects.get(pk=response.json()["id"])


def test_a_year_1_timestamp_is_refused_and_grouping_goes_on(service_client):
    refused(post(service_client, {"code": "E", "timestamp": "0001-01-01T00:00:00+14:00"}),
            "report.timestamp", "is before 2000-01-01T00:00:00Z")
    good = stored_ok(service_client, timestamp="2026-11-30T10:00:00Z")
    digest_batch(limit=100)
    good.refresh_from_db()
    assert good.digested_at is not None and good.group_id is not None
    assert service_client.get(URL).status_code == 200
    assert ErrorLogEntry.objects.count() == 1


def test_an_offset_postgresql_refuses_is_stored_as_the_same_instant_in_utc(service_client):
    entry = stored_ok(service_client, timestamp="2020-01-01T00:00:00-16:52")
    assert entry.timestamp == datetime(2020, 1, 1, 16, 52, tzinfo=UTC)


@pytest.mark.parametrize("body, words", [
    (b"[" * 100_000 + b"]" * 100_000, "Request body is nested more than 64 levels deep"),
    (b'{"context": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
     "is nested more than 64 levels deep"),
    (b'{"attempt_count": ' + b"9" * 4301 + b"}", "has an integer of more than 64 digits"),
    (b'{"context": {"ratio": NaN}}', "has NaN, which is not JSON"),
    (b'{"context": {"ratio": Infinity}}', "has Infinity"),
    (b'{"context": {"ratio": 1e999}}', "out of range"),
    (b'{"message": "\xed\xa0\x80"}', "Request body is not UTF-8"),
])
def test_bodies_python_json_chokes_on_are_a_400(service_client, body, words):
    refused(post(service_client, body), None, words)


@pytest.mark.parametrize("report, field, words", [
    ({"code": "E\u0000"}, "report.code", "NUL character"),
    ({"operation": "charge\u0000"}, "report.operation", "NUL character"),
    ({"name": "Error\ud800"}, "report.name", "lone surrogate"),
    ({"tags": {"team": "a\u0000"}}, "report.tags.team", "NUL character"),
    ({"payload": {"order": "x\u0000"}}, "report.payload.order", "NUL character"),
    ({"payload": {"k\u0000": 1}}, "report.payload['k\\x00'] (the key)", "NUL character"),
    ({"fingerprint": ["a\u0000"]}, "report.fingerprint[0]", "NUL character"),
    ({"cause": {"code": "E\u0000"}}, "report.cause.code", "NUL character"),
    ({"errno": int("9" * 33)}, "report.errno", "is longer than 32 digits"),
    ({"attempt_count": 10**40}, "report.attempt_count", "must be at most 1000000"),
    ({"status": -(10**30)}, "report.status", "must be at least 100"),
])
def test_values_postgresql_cannot_take_are_a_400_naming_the_field(service_client, report,
                                                                  field, words):
    refused(post(service_client, report), field, words)
    assert ErrorLogEntry.objects.count() == 0


def test_free_text_keeps_the_report_with_the_replacement_character(service_client):
    entry = stored_ok(service_client, message="bad byte \u0000 here \ud800",
                      stack_trace="Traceback\u0000", context={"file\u0000": ["a\u0000"]},
                      cause={"message": "inner\u0000"})
    entry.refresh_from_db()  # read back from PostgreSQL
    assert entry.message == "bad byte \ufffd here \ufffd"
    assert entry.stack_trace == "Traceback\ufffd"
    assert entry.context == {"file\ufffd": ["a\ufffd"]}
    assert entry.cause["message"] == "inner\ufffd"


def test_one_bad_report_in_a_batch_of_1000_is_one_400_naming_its_index(service_client):
    now = timezone.now().isoformat()
    batch = [{"code": "ECONNREFUSED", "timestamp": now} for _ in range(1000)]
    batch[417]["timestamp"] = "0001-01-01T00:00:00+14:00"
    refused(post(service_client, batch), "reports[417].timestamp", "is before 2000-01-01")
    batch[417] = {"code": "E", "message": "\u0000", "operation": "op\u0000"}
    refused(post(service_client, batch), "reports[417].operation", "NUL character")
    assert ErrorLogEntry.objects.count() == 0  # nothing of a refused batch is stored

    batch[417] = {"code": "ECONNREFUSED", "message": "fixed"}
    response = post(service_client, batch)
    assert response.status_code == 201
    assert len(response.json()) == 1000
    assert ErrorLogEntry.objects.count() == 1000


def test_one_clients_bad_input_costs_another_client_nothing(service_client):
    other_key = factories.service_key(factories.ServiceFactory())[1]
    other = Client(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    refused(post(service_client, [{"code": "E"}, {"operation": "\u0000"}]),
            "reports[1].operation", "NUL")
    assert post(other, [{"code": "E"}, {"code": "F"}]).status_code == 201
    assert ErrorLogEntry.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_with_group_commit_hostile_reports_never_fail_another_keys_reports(settings):
    """The issue's case: with group commit on, NUL-byte reports from one key made valid
    reports from another key fail with 500. Validation now refuses or repairs them before
    the shared commit, so every request gets its own answer and every valid report lands."""
    settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_GROUP_COMMIT": True}
    hostile = factories.service_key(factories.ServiceFactory())[1]
    valid = factories.service_key(factories.ServiceFactory())[1]
    bodies = {
        "hostile": [{"message": "a\u0000b", "context": {"k": "\u0000"}}, {"code": "E"}],
        "refused": [{"code": "E"}, {"operation": "x\u0000"}],
        "valid": [{"code": "ECONNREFUSED", "operation": "db"} for _ in range(5)],
    }
    answers: list[tuple[str, int]] = []

    def send(name: str, key: str) -> None:
        try:
            client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
            for _ in range(10):
                answers.append((name, post(client, bodies[name]).status_code))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(name, key)) for name, key in
               [("hostile", hostile), ("refused", hostile), ("valid", valid),
                ("valid", valid), ("hostile", hostile)]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(set(answers)) == [("hostile", 201), ("refused", 400), ("valid", 201)]
    assert ErrorLogEntry.objects.filter(message="a\ufffdb").count() == 20
    assert ErrorLogEntry.objects.filter(operation="db").count() == 2 * 10 * 5
