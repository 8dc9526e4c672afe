"""Ingest answers a circuit it read open from this process's memory
(CIRCUIT_OPEN_MEMO_SECONDS), never past its recovery timeout, and never after this
process forced or reset it."""

import json
import time

import pytest
from django.test import Client

from resilience.circuits.redis_breaker import RedisCircuitStore
from resilience.circuits.services import circuit_force, circuit_reset
from resilience.models import CircuitTransition
from tests import factories

OP = "payments.charge"


@pytest.fixture
def calls(settings, postgres, redis_url, monkeypatch):
    """The script calls Redis answered, by command (a first use's SEED answer is not
    counted); small numbers so the test is quick."""
    settings.REDIS_URL = redis_url
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_FAILURE_THRESHOLD": 3,
                          "CIRCUIT_RECOVERY_TIMEOUT_SECONDS": 1,
                          "CIRCUIT_OPEN_MEMO_SECONDS": 30}
    made: list[str] = []
    real_call = RedisCircuitStore.call

    def counted(self, command, *args, **kwargs):
        outcome = real_call(self, command, *args, **kwargs)
        made.append(command)
        return outcome

    monkeypatch.setattr(RedisCircuitStore, "call", counted)
    return made


@pytest.fixture
def service():
    return factories.ServiceFactory()


@pytest.fixture
def client(service):
    _, raw = factories.service_key(service, rate_limit_per_minute=0)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def report(client: Client) -> dict:
    body = {"code": "ECONNREFUSED", "message": "refused", "operation": OP}
    answer = client.post("/api/v1/errors/", data=json.dumps(body),
                         content_type="application/json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_reports_to_an_open_circuit_are_answered_without_asking_redis(calls, client):
    answers = [report(client) for _ in range(10)]

    assert [a["circuit"] for a in answers] == ["CLOSED"] * 2 + ["OPEN"] * 8
    assert calls == ["failure"] * 3  # the third opened it; the other seven were not asked
    retry_after = [a["retry_after_ms"] for a in answers[2:]]
    assert all(0 < ms <= 1000 for ms in retry_after)
    assert retry_after == sorted(retry_after, reverse=True)  # counting down, not frozen


def test_the_memo_ends_with_the_recovery_timeout_and_the_next_failure_is_the_probe(
        calls, client):
    for _ in range(3):
        report(client)
    time.sleep(1.1)  # CIRCUIT_RECOVERY_TIMEOUT_SECONDS = 1, the memo's 30 s notwithstanding

    assert report(client)["circuit"] == "OPEN"
    assert calls == ["failure"] * 4
    assert list(CircuitTransition.objects.filter(circuit__operation=OP).order_by("id")
                .values_list("from_state", "to_state")) == [
        ("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "OPEN")]


def test_a_force_or_reset_made_in_this_process_is_seen_at_once(calls, client, service,
                                                                triager):
    for _ in range(3):
        report(client)

    circuit_force(state="FORCED_CLOSED", actor=triager, operation=OP, service_id=service.pk)
    assert report(client)["circuit"] == "FORCED_CLOSED"
    circuit_reset(actor=triager, operation=OP, service_id=service.pk)
    assert report(client)["circuit"] == "CLOSED"


def test_zero_asks_every_time(calls, client, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_OPEN_MEMO_SECONDS": 0}
    answers = [report(client) for _ in range(6)]

    assert [a["circuit"] for a in answers] == ["CLOSED"] * 2 + ["OPEN"] * 4
    assert calls == ["failure"] * 6
