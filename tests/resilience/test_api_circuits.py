"""/api/v1/circuits/: reads for services and operators; permit and outcomes for services;
and the breaker as seen from POST /api/v1/errors/."""

import json

import pytest
from django.test import Client

from resilience.models import CircuitState
from tests.factories import operator_token

pytestmark = pytest.mark.django_db

OP = "timer.execute"


@pytest.fixture(autouse=True)
def small_numbers(settings):
    settings.FAULTLINE = {
        **settings.FAULTLINE,
        "CIRCUIT_FAILURE_THRESHOLD": 3,
        "CIRCUIT_SETTINGS_CACHE_SECONDS": 0,
    }


def post(client, url, body=None):
    data = "" if body is None else (body if isinstance(body, str) else json.dumps(body))
    return client.post(url, data=data, content_type="application/json")


def test_permit_success_and_failure_round_trip(service_client):
    base = f"/api/v1/circuits/{OP}"
    response = post(service_client, f"{base}/permit/")
    assert response.status_code == 200, response.content
    assert response.json() == {"allowed": True, "state": "CLOSED", "retry_after_ms": None,
                               "probe_token": None, "until": None}
    assert post(service_client, f"{base}/success/").json() == {"state": "CLOSED"}
    for expected in ("CLOSED", "CLOSED", "OPEN"):
        response = post(service_client, f"{base}/failure/", {"probe_token": None})
        assert response.status_code == 200 and response.json() == {"state": expected}
    refused = post(service_client, f"{base}/permit/").json()
    assert refused["allowed"] is False and refused["state"] == "OPEN"
    assert 0 < refused["retry_after_ms"] <= 30_000 and refused["until"]
    # A failure that is the caller's own fault does not count.
    assert post(service_client, "/api/v1/circuits/other.op/failure/",
                {"counts": False}).json() == {"state": "CLOSED"}


def test_a_probe_token_closes_a_half_open_circuit(service_client, service):
    CircuitState.objects.create(service=service, operation=OP, recovery_timeout_seconds=0)
    for _ in range(3):
        post(service_client, f"/api/v1/circuits/{OP}/failure/")
    probe = post(service_client, f"/api/v1/circuits/{OP}/permit/").json()
    assert probe["allowed"] and probe["state"] == "HALF_OPEN" and probe["probe_token"]
    busy = post(service_client, f"/api/v1/circuits/{OP}/permit/").json()
    assert busy["allowed"] is False and busy["until"]
    closed = post(service_client, f"/api/v1/circuits/{OP}/success/",
                  {"probe_token": probe["probe_token"]})
    assert closed.json() == {"state": "CLOSED"}


def test_reads_list_and_detail_with_the_settings_in_effect(service_client, service):
    CircuitState.objects.create(service=service, operation="campaign.update",
                                failure_threshold=9)
    post(service_client, f"/api/v1/circuits/{OP}/failure/")
    listing = service_client.get("/api/v1/circuits/")
    assert listing.status_code == 200
    assert listing.json()["count"] == 2
    rows = {row["operation"]: row for row in listing.json()["results"]}
    assert rows[OP]["state"] == "CLOSED" and rows[OP]["failure_count"] == 1
    assert rows[OP]["service"] == service.slug and rows[OP]["shared"] is False
    assert rows["campaign.update"]["settings"]["failure_threshold"] == 9
    assert rows[OP]["settings"] == {"failure_threshold": 3, "window_seconds": 60,
                                    "recovery_timeout_seconds": 30, "half_open_probes": 1,
                                    "probe_timeout_seconds": 10}
    assert rows[OP]["backend"] in ("redis", "database")
    detail = service_client.get(f"/api/v1/circuits/{OP}/").json()
    assert detail["operation"] == OP and detail["opened_at"] is None
    assert service_client.get("/api/v1/circuits/never.seen/").status_code == 404


def test_operators_read_with_the_view_permission_but_cannot_ask_for_permits(viewer):
    client = Client(HTTP_AUTHORIZATION=f"Token {operator_token(viewer)}")
    CircuitState.objects.create(operation=OP)
    assert client.get("/api/v1/circuits/").status_code == 200
    assert client.get(f"/api/v1/circuits/{OP}/").status_code == 200
    assert post(client, f"/api/v1/circuits/{OP}/permit/").status_code in (401, 403)


def test_anonymous_and_bad_keys_are_refused():
    anonymous = Client()
    assert anonymous.get("/api/v1/circuits/").status_code in (401, 403)
    assert post(anonymous, f"/api/v1/circuits/{OP}/permit/").status_code in (401, 403)
    bad = Client(HTTP_AUTHORIZATION="Bearer nope")
    assert post(bad, f"/api/v1/circuits/{OP}/failure/").status_code == 401


def test_a_bad_body_is_a_400_naming_the_field(service_client):
    response = post(service_client, f"/api/v1/circuits/{OP}/failure/", {"counts": "maybe"})
    assert response.status_code == 400
    assert response.json()["field"] == "counts"
    response = post(service_client, f"/api/v1/circuits/{OP}/success/", {"probe_token": [1]})
    assert response.status_code == 400 and response.json()["field"] == "probe_token"
    assert post(service_client, f"/api/v1/circuits/{OP}/failure/", "{oops").status_code == 400
    assert post(service_client, f"/api/v1/circuits/{OP}/failure/", [1]).status_code == 400


def test_operation_names_with_odd_characters_are_a_400_naming_the_operation(service_client):
    for name in ("a%20b", "%C2%84", "x" * 201, "caf%C3%A9"):
        response = post(service_client, f"/api/v1/circuits/{name}/permit/")
        assert response.status_code == 400, name
        assert response.json()["field"] == "operation"
        assert service_client.get(f"/api/v1/circuits/{name}/").json()["field"] == "operation"
    assert post(service_client, "/api/v1/circuits/ns:op-v2.x_y/permit/").status_code == 200


def test_reports_count_against_their_operation_and_break_the_circuit(service_client):
    report = {"code": "ECONNREFUSED", "message": "refused", "operation": OP}
    answers = [post(service_client, "/api/v1/errors/", report).json() for _ in range(2)]
    assert [(a["strategy"], a["circuit"]) for a in answers] == [("RETRY", "CLOSED")] * 2
    third = post(service_client, "/api/v1/errors/", report).json()
    assert third["strategy"] == "CIRCUIT_BREAK" and third["circuit"] == "OPEN"
    assert 0 < third["retry_after_ms"] <= 30_000
    # Other operations, and reports without one, are not affected.
    other = post(service_client, "/api/v1/errors/", {**report, "operation": "other"}).json()
    assert other["strategy"] == "RETRY" and other["circuit"] == "CLOSED"
    bare = post(service_client, "/api/v1/errors/", {"code": "ECONNREFUSED"}).json()
    assert bare["strategy"] == "RETRY" and bare["circuit"] == "CLOSED"


def test_errors_that_say_nothing_about_the_dependency_do_not_count(service_client):
    report = {"code": "ValidationError", "message": "bad amount", "operation": OP}
    answers = post(service_client, "/api/v1/errors/", [report] * 5).json()
    # Their decision does not depend on the circuit either: it is not even asked.
    assert {a["circuit"] for a in answers} == {"NOT_READ"}
    assert post(service_client, f"/api/v1/circuits/{OP}/permit/").json()["allowed"] is True


def test_an_open_circuit_is_not_asked_about_a_failure_it_cannot_change(service_client):
    retryable = {"code": "ECONNREFUSED", "message": "refused", "operation": OP}
    post(service_client, "/api/v1/errors/", [retryable] * 3)
    out_of_attempts = {**retryable, "attempt_count": 3}
    answers = post(service_client, "/api/v1/errors/", [
        {"code": "ValidationError", "message": "bad amount", "operation": OP},
        out_of_attempts,
        retryable,
    ]).json()
    assert [(a["strategy"], a["circuit"]) for a in answers] == [
        ("FALLBACK", "OPEN"),  # asked for the others in the request: the state is known
        ("FALLBACK", "OPEN"),
        ("CIRCUIT_BREAK", "OPEN"),
    ]
    alone = post(service_client, "/api/v1/errors/",
                 {"code": "ValidationError", "message": "bad", "operation": OP}).json()
    assert (alone["strategy"], alone["circuit"]) == ("FALLBACK", "NOT_READ")


def test_a_batch_counts_all_its_failures_in_one_go(service_client):
    report = {"code": "ETIMEDOUT", "message": "timed out", "operation": OP}
    answers = post(service_client, "/api/v1/errors/", [report] * 4).json()
    # Counted first, then read: every report in the batch sees the circuit it opened.
    assert {(a["strategy"], a["circuit"]) for a in answers} == {("CIRCUIT_BREAK", "OPEN")}
    assert CircuitState.objects.get(operation=OP).transitions.count() == 1


def test_reads_of_operations_never_counted_leave_no_circuit_behind(service_client):
    # Only a call that changes something makes a circuit: a flood of new operation names
    # in reports that do not count, successes and uncounted failures costs no rows.
    reports = [{"code": "ValidationError", "message": "bad", "operation": f"op.{i}"}
               for i in range(20)]
    assert post(service_client, "/api/v1/errors/", reports).status_code == 201
    assert post(service_client, "/api/v1/circuits/new.op/success/").json() == {
        "state": "CLOSED"}
    assert post(service_client, "/api/v1/circuits/new.op/failure/",
                {"counts": False}).json() == {"state": "CLOSED"}
    assert not CircuitState.objects.exists()
