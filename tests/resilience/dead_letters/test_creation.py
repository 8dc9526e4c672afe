"""Dead letters are made by the digest (for DEAD_LETTER decisions, exactly once) and by
services themselves through the API or dead_letter_create."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from resilience.dead_letters.services import dead_letter_create
from resilience.digest.service import digest_batch
from resilience.models import DeadLetter, ErrorLogEntry

ERRORS = "/api/v1/errors/"
DEAD_LETTERS = "/api/v1/dead-letters/"
INTEGRITY = {"name": "IntegrityError", "operation": "database.write", "attempt_count": 2,
             "message": "duplicate key value violates unique constraint \"order_pk\"",
             "payload": {"order": 17, "lines": [{"sku": "A-1", "qty": 2}]}}


@pytest.fixture(autouse=True)
def integrity_is_data_corruption_at_high(db):
    """Under the seed's defaults DATA_CORRUPTION is CRITICAL (an immediate alert) and an
    IntegrityError is BUSINESS_LOGIC; an operator's rule is what makes DEAD_LETTER decide."""
    from resilience.models import ClassificationRule

    ClassificationRule.objects.create(code="IntegrityError", category="DATA_CORRUPTION",
                                      severity="HIGH")


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_a_dead_letter_decision_becomes_one_dead_letter_at_digest(service_client, service):
    answer = post(service_client, ERRORS, INTEGRITY).json()
    assert answer["strategy"] == "DEAD_LETTER"
    entry = ErrorLogEntry.objects.get()

    assert digest_batch(limit=100).dead_letters == 1

    letter = DeadLetter.objects.get()
    assert letter.entry == entry
    assert letter.service == service
    assert letter.payload == INTEGRITY["payload"]
    assert letter.operation == "database.write"
    assert letter.reason == f"IntegrityError: {INTEGRITY['message']}"
    assert letter.category == "DATA_CORRUPTION"
    assert letter.attempt_count == 2
    assert letter.first_failed_at == letter.last_failed_at == entry.timestamp
    assert letter.status == DeadLetter.Status.PENDING


def test_other_decisions_make_no_dead_letter(service_client):
    post(service_client, ERRORS, {"code": "ECONNRESET", "payload": {"x": 1}})  # RETRY
    post(service_client, ERRORS, {"name": "ValueError", "payload": {"x": 2}})  # FALLBACK
    digest_batch(limit=100)
    assert not DeadLetter.objects.exists()


def test_a_second_digest_of_the_same_entry_does_not_duplicate(service_client):
    post(service_client, ERRORS, INTEGRITY)
    digest_batch(limit=100)
    ErrorLogEntry.objects.update(digested_at=None)  # as if the digest ran again
    digest_batch(limit=100)
    assert DeadLetter.objects.count() == 1


def test_dead_letters_cost_one_statement_only_when_there_are_any(service_client):
    bodies = [{**INTEGRITY, "payload": {"order": i}} if i % 10 == 0 else
              {"code": f"E{i % 5}", "message": f"failure {i}"} for i in range(200)]
    post(service_client, ERRORS, bodies)
    with CaptureQueriesContext(connection) as queries:
        result = digest_batch(limit=1000)
    assert result.dead_letters == 20
    assert sorted(DeadLetter.objects.values_list("payload__order", flat=True)) == list(
        range(0, 200, 10))
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    inserts = [s for s in statements
               if s.startswith("INSERT") and '"resilience_deadletter"' in s.split("(")[0]]
    assert len(inserts) == 1
    if connection.vendor == "postgresql":
        # the digest's twelve for a batch of new groups (tests/resilience/test_digest.py)
        # and this one INSERT
        assert len(statements) == 13, statements


def test_a_service_parks_its_own_work_by_api(service_client, service):
    failed_at = timezone.now() - timedelta(minutes=5)
    response = post(service_client, DEAD_LETTERS, {
        "operation": "event.publish", "payload": {"event": "campaign.started", "id": 9},
        "headers": {"x-correlation-id": "abc"}, "reason": "broker unreachable",
        "category": "EXTERNAL_DEPENDENCY", "attempt_count": 5,
        "first_failed_at": failed_at.isoformat(),
    })
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "PENDING"
    assert body["service"] == service.slug
    letter = DeadLetter.objects.get(pk=body["id"])
    assert letter.payload == {"event": "campaign.started", "id": 9}
    assert letter.headers == {"x-correlation-id": "abc"}
    assert (letter.attempt_count, letter.category) == (5, "EXTERNAL_DEPENDENCY")
    assert letter.first_failed_at == failed_at
    assert letter.last_failed_at >= failed_at
    assert body["replay_key"] == str(letter.replay_key)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payload": {}}, "operation"),
        ({"operation": ""}, "operation"),
        ({"operation": "x" * 201}, "operation"),
        ({"operation": "op", "headers": ["a"]}, "headers"),
        ({"operation": "op", "headers": {"a": 1}}, "headers"),
        ({"operation": "op", "category": "WHATEVER"}, "category"),
        ({"operation": "op", "attempt_count": -1}, "attempt_count"),
        ({"operation": "op", "first_failed_at": "yesterday"}, "first_failed_at"),
        ({"operation": "op", "first_failed_at": "2025-01-02T00:00:00Z",
          "last_failed_at": "2025-01-01T00:00:00Z"}, "last_failed_at"),
        ({"operation": "op", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_dead_letter_is_a_400_naming_the_field(service_client, body, field):
    response = post(service_client, DEAD_LETTERS, body)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert response.json()["message"].startswith(field)
    assert not DeadLetter.objects.exists()


def test_parking_needs_a_service_key(client, triager):
    assert post(client, DEAD_LETTERS, {"operation": "op"}).status_code in (401, 403)
    client.force_login(triager)
    assert post(client, DEAD_LETTERS, {"operation": "op"}).status_code == 403


def test_the_in_process_guard_creates_through_the_service(service):
    entry_time = timezone.now() - timedelta(seconds=30)
    from tests.factories import ErrorLogEntryFactory

    entry = ErrorLogEntryFactory(service=service, timestamp=entry_time)
    letter = dead_letter_create(
        service_id=service.pk, operation="timer.execute", payload={"timer": 3},
        reason="TimeoutError: timer took too long", category="TRANSIENT", entry=entry,
    )
    assert letter.pk and letter.entry == entry
    assert letter.first_failed_at == letter.last_failed_at == entry_time
    assert letter.headers == {}


def test_the_guard_and_the_digest_make_one_dead_letter_per_entry(service_client, service):
    post(service_client, ERRORS, INTEGRITY)
    entry = ErrorLogEntry.objects.get()
    guarded = dead_letter_create(service_id=service.pk, operation="database.write",
                                 payload=INTEGRITY["payload"], reason="IntegrityError: dup",
                                 entry=entry)
    digest_batch(limit=100)  # finds the guard's row and leaves it
    assert list(DeadLetter.objects.all()) == [guarded]

    again = dead_letter_create(service_id=service.pk, operation="database.write",
                               payload=None, reason="again", entry=entry)
    assert again == guarded
