"""Redis killed while reports flow: every use of it fails open (counted), ingest keeps
storing on PostgreSQL, nothing answers 500. A private redis-server is really killed."""

import json

import pytest
from django.test import Client, override_settings
from prometheus_client import REGISTRY

from resilience.circuits.services import circuit_backend, circuit_process_reset
from resilience.ingest.rate_limits import budgets_process_reset
from resilience.models import ErrorLogEntry
from resilience.outbound import pacing
from tests import factories
from tests.faults.services import PrivateRedis


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    # Restored here, not by `settings`, so the budget windows are cleared afterwards on the
    # suite's own cache, not on the killed one.
    caches = {"default": {
        "BACKEND": "django_redis.cache.RedisCache", "LOCATION": server.url(),
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.5},
    }}
    try:
        with override_settings(REDIS_URL=server.url(), CACHES=caches):
            circuit_process_reset()
            budgets_process_reset()
            yield server
    finally:
        server.destroy()
        circuit_process_reset()
        budgets_process_reset()


def failed_open(use: str, dependency: str = "redis") -> float:
    return REGISTRY.get_sample_value("faultline_dependency_fail_open_total",
                                     {"dependency": dependency, "use": use}) or 0.0


def report(client: Client, n: int):
    body = {"event_id": f"evt-{n}", "code": "ECONNREFUSED", "message": "refused",
            "operation": "payments.charge"}
    return client.post("/api/v1/errors/", data=json.dumps(body),
                       content_type="application/json")


def test_a_rate_limited_key_keeps_storing_while_redis_is_killed(postgres, private_redis,
                                                                settings):
    # Every report asks its circuit (no open-circuit memo), so the outage is met.
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_OPEN_MEMO_SECONDS": 0}
    service = factories.ServiceFactory()
    _, raw = factories.service_key(service, rate_limit_per_minute=1000)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    before = failed_open("rate_limit"), failed_open("circuit_state")

    answers = [report(client, n) for n in range(5)]
    private_redis.stop()
    answers += [report(client, n) for n in range(5, 20)]

    assert [a.status_code for a in answers] == [201] * 20
    assert ErrorLogEntry.objects.filter(service=service).count() == 20
    # Five failures opened the circuit in Redis; during the outage its database row still
    # says so (never "always closed").
    assert [a.json()["circuit"] for a in answers] == ["CLOSED"] * 4 + ["OPEN"] * 16
    assert circuit_backend() == "database"
    assert failed_open("rate_limit") > before[0]
    assert failed_open("circuit_state") > before[1]


def test_the_budget_is_enforced_again_once_redis_returns(postgres, private_redis):
    service = factories.ServiceFactory()
    _, raw = factories.service_key(service, rate_limit_per_minute=2)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    private_redis.stop()
    assert [report(client, n).status_code for n in range(4)] == [201] * 4  # open

    private_redis.start()
    circuit_process_reset()
    budgets_process_reset()  # as OUTAGE_RETRY_SECONDS passing would
    assert [report(client, n).status_code for n in range(4, 8)] == [201, 201, 429, 429]


def test_fail_open_uses_are_on_metrics(postgres, private_redis, client):
    private_redis.stop()
    factories.ServiceFactory()
    assert client.get("/metrics").status_code == 200  # its cached figures fail open
    # The counters are exported before the database sections run: the next scrape has it.
    text = client.get("/metrics").content.decode()
    assert 'faultline_dependency_fail_open_total{dependency="redis",use="metrics_cache"}' in text
    assert 'faultline_scrape_error{section="events"} 0.0' in text


def test_pacing_holds_per_process_while_the_cache_is_down(private_redis):
    private_redis.stop()
    before = failed_open("pacing")
    clock = iter([100.0, 100.0, 100.0, 100.0]).__next__
    first = pacing.acquire("dest-a", 10, clock=clock, sleep=lambda s: None)
    second = pacing.acquire("dest-a", 10, clock=clock, sleep=lambda s: None)
    assert second > first  # two slots, not one: reserved in this process instead
    assert failed_open("pacing") >= before + 2
