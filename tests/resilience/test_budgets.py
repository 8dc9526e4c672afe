"""Budgets per key (reports, dead letters, circuit calls) and per address (requests with
missing or wrong credentials), on the native API; and what happens when the cache is down.
"""

import json

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from prometheus_client import REGISTRY

from resilience.ingest.rate_limits import (
    address_bucket,
    budgets_process_reset,
    rate_limit_consume,
    rate_limit_exhausted,
)
from resilience.models import DeadLetter, ErrorLogEntry
from tests import factories

pytestmark = pytest.mark.django_db


def _forget_windows() -> None:
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("ratelimit:*")
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def fresh_budgets(budget_clock):
    # Key ids repeat across test runs, and windows live a minute in Redis. The budget
    # clock stands still at the start of a minute: every test here counts in one window.
    _forget_windows()
    budgets_process_reset()
    yield
    budgets_process_reset()
    _forget_windows()


def limits(settings, **values) -> None:
    settings.FAULTLINE = {**settings.FAULTLINE,
                          **{f"RATE_LIMIT_{name}": value for name, value in values.items()}}


def post(client, path, body=None, **extra):
    return client.post(path, data=json.dumps(body if body is not None else {}),
                       content_type="application/json", **extra)


def key_client(service, **kwargs) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {factories.service_key(service, **kwargs)[1]}")


def limited(scope: str) -> float:
    return REGISTRY.get_sample_value("faultline_requests_rate_limited_total",
                                     {"scope": scope}) or 0.0


# --- reports -----------------------------------------------------------------------------


def test_a_key_without_its_own_limit_gets_the_default(service, settings):
    limits(settings, KEY_REPORTS_PER_MINUTE=3)
    client = key_client(service)
    assert post(client, "/api/v1/errors/", [{"code": "E"}] * 3).status_code == 201
    before = limited("reports")
    response = post(client, "/api/v1/errors/", {"code": "E"})
    assert response.status_code == 429
    assert "3 reports per minute" in response.json()["message"]
    assert response["Retry-After"] == "60"  # the clock stands at the start of the minute
    assert limited("reports") == before + 1
    assert ErrorLogEntry.objects.count() == 3


def test_the_next_minute_has_a_budget_of_its_own(service, settings, budget_clock):
    limits(settings, KEY_REPORTS_PER_MINUTE=1)
    client = key_client(service)
    assert post(client, "/api/v1/errors/", {"code": "E"}).status_code == 201
    budget_clock.now += 59
    response = post(client, "/api/v1/errors/", {"code": "E"})
    assert (response.status_code, response["Retry-After"]) == (429, "1")
    budget_clock.now += 1
    assert post(client, "/api/v1/errors/", {"code": "E"}).status_code == 201


def test_a_key_with_nothing_left_is_refused_before_its_body_is_read(service, settings):
    limits(settings, KEY_REPORTS_PER_MINUTE=1)
    client = key_client(service)
    assert post(client, "/api/v1/errors/", {"code": "E"}).status_code == 201
    # Not JSON at all: had the body been read, this would be a 400.
    response = client.post("/api/v1/errors/", data=b"{" * 10_000,
                           content_type="application/json")
    assert response.status_code == 429


def test_a_batch_too_big_for_what_is_left_does_not_refuse_smaller_reports_unread(
    service, settings
):
    limits(settings, KEY_REPORTS_PER_MINUTE=3)
    client = key_client(service)
    assert post(client, "/api/v1/errors/", [{"code": "E"}] * 2).status_code == 201
    assert post(client, "/api/v1/errors/", [{"code": "E"}] * 2).status_code == 429
    # One report still fits: the refused batch gave its count back.
    assert post(client, "/api/v1/errors/", {"code": "E"}).status_code == 201
    assert ErrorLogEntry.objects.count() == 3


def test_used_up_in_another_process_is_refused_after_the_body_is_read(service, settings):
    limits(settings, KEY_REPORTS_PER_MINUTE=1)
    client = key_client(service)
    assert post(client, "/api/v1/errors/", {"code": "E"}).status_code == 201
    budgets_process_reset()  # what this process saw is forgotten; the shared count is not
    assert post(client, "/api/v1/errors/", {"code": "E"}).status_code == 429
    assert ErrorLogEntry.objects.count() == 1


def test_a_raised_limit_is_not_refused_for_a_window_seen_used_up(service, budget_clock):
    key, raw = factories.service_key(service, rate_limit_per_minute=1)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert post(client, "/api/v1/errors/", {"code": "E"}).status_code == 201
    now = budget_clock.now
    assert rate_limit_exhausted(key_id=key.pk, limit=1, now=now) == 60
    assert rate_limit_exhausted(key_id=key.pk, limit=2, now=now) is None
    assert rate_limit_exhausted(key_id=key.pk, limit=1, now=now + 60) is None  # next minute


def test_a_keys_own_limit_replaces_the_default_and_zero_is_no_limit(service, settings):
    limits(settings, KEY_REPORTS_PER_MINUTE=1)
    generous = key_client(service, rate_limit_per_minute=5)
    assert post(generous, "/api/v1/errors/", [{"code": "E"}] * 5).status_code == 201
    unlimited = key_client(service, rate_limit_per_minute=0)
    assert post(unlimited, "/api/v1/errors/", [{"code": "E"}] * 50).status_code == 201


def test_one_keys_budget_is_not_anothers(service, settings):
    limits(settings, KEY_REPORTS_PER_MINUTE=2)
    first, second = key_client(service), key_client(factories.ServiceFactory())
    assert post(first, "/api/v1/errors/", [{"code": "E"}] * 2).status_code == 201
    assert post(first, "/api/v1/errors/", {"code": "E"}).status_code == 429
    assert post(second, "/api/v1/errors/", [{"code": "E"}] * 2).status_code == 201


# --- dead letters and circuit calls ------------------------------------------------------


def test_dead_letter_creation_has_its_own_budget_per_key(service, settings):
    limits(settings, KEY_DEAD_LETTERS_PER_MINUTE=2)
    client, other = key_client(service), key_client(factories.ServiceFactory())
    for _ in range(2):
        assert post(client, "/api/v1/dead-letters/", {"operation": "op"}).status_code == 201
    response = post(client, "/api/v1/dead-letters/", {"operation": "op"})
    assert response.status_code == 429
    assert "2 dead letters per minute" in response.json()["message"]
    assert 1 <= int(response["Retry-After"]) <= 60
    assert client.get("/api/v1/dead-letters/").status_code == 200  # reads are not counted
    assert post(other, "/api/v1/dead-letters/", {"operation": "op"}).status_code == 201
    assert DeadLetter.objects.count() == 3
    # Reports are a budget apart: the key may still report.
    assert post(client, "/api/v1/errors/", {"code": "E"}).status_code == 201


def test_thirty_dead_letters_in_a_burst_create_only_the_budget(service, settings):
    limits(settings, KEY_DEAD_LETTERS_PER_MINUTE=10)
    client = key_client(service)
    codes = [post(client, "/api/v1/dead-letters/", {"operation": f"op{i}"}).status_code
             for i in range(30)]
    assert codes == [201] * 10 + [429] * 20
    assert DeadLetter.objects.count() == 10


def test_circuit_permits_and_outcomes_spend_the_circuit_budget(service, settings):
    limits(settings, KEY_CIRCUIT_CALLS_PER_MINUTE=3)
    client, other = key_client(service), key_client(factories.ServiceFactory())
    base = "/api/v1/circuits/payments.charge"
    assert post(client, f"{base}/permit/").status_code == 200
    assert post(client, f"{base}/success/").status_code == 200
    assert post(client, f"{base}/failure/").status_code == 200
    for path in ("permit", "success", "failure"):
        response = post(client, f"{base}/{path}/")
        assert response.status_code == 429, path
        assert "3 circuit calls per minute" in response.json()["message"]
    assert post(other, f"{base}/permit/").status_code == 200


# --- requests with missing or wrong credentials, per address -----------------------------


def test_wrong_keys_from_one_address_are_answered_429_past_its_budget(service, settings):
    limits(settings, IP_UNAUTHENTICATED_PER_MINUTE=2)
    guesser = Client(HTTP_AUTHORIZATION="Bearer fl_guess", REMOTE_ADDR="198.51.100.7")
    assert [post(guesser, "/api/v1/errors/", {"code": "E"}).status_code for _ in range(2)] \
        == [401, 401]
    response = post(guesser, "/api/v1/errors/", {"code": "E"})
    assert response.status_code == 429
    assert "Unknown service key" in response.json()["message"]
    assert 1 <= int(response["Retry-After"]) <= 60
    # A valid key from the same address (a shared proxy or NAT) is never refused for it.
    _key, raw = factories.service_key(service)
    assert post(Client(HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR="198.51.100.7"),
                "/api/v1/errors/", {"code": "E"}).status_code == 201
    # Another address has its own budget.
    assert post(Client(HTTP_AUTHORIZATION="Bearer fl_guess", REMOTE_ADDR="198.51.100.8"),
                "/api/v1/errors/", {"code": "E"}).status_code == 401


def test_a_revoked_key_counts_as_a_wrong_one(service, settings):
    from resilience.ingest.keys import service_key_revoke

    limits(settings, IP_UNAUTHENTICATED_PER_MINUTE=1)
    key, raw = factories.service_key(service)
    service_key_revoke(key=key, actor=None)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR="203.0.113.9")
    assert post(client, "/api/v1/errors/", {"code": "E"}).status_code == 403
    response = post(client, "/api/v1/errors/", {"code": "E"})
    assert response.status_code == 429
    assert "revoked" in response.json()["message"]


def test_addresses_behind_a_trusted_proxy_are_told_apart(service, settings):
    limits(settings, IP_UNAUTHENTICATED_PER_MINUTE=1)
    settings.TRUSTED_PROXY_COUNT = 1

    def guess(client_address):
        return post(Client(HTTP_AUTHORIZATION="Bearer fl_guess", REMOTE_ADDR="127.0.0.1",
                           HTTP_X_FORWARDED_FOR=client_address), "/api/v1/errors/",
                    {"code": "E"}).status_code

    assert [guess("192.0.2.1"), guess("192.0.2.1"), guess("192.0.2.2")] == [401, 429, 401]


def test_ipv6_clients_are_counted_by_their_64_block():
    assert address_bucket("2001:db8::1") == address_bucket("2001:db8::ffff:1") \
        == "2001:db8::/64"
    assert address_bucket("2001:db8:0:1::1") != address_bucket("2001:db8::1")
    assert address_bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_bucket("192.0.2.1") == "192.0.2.1"
    assert address_bucket(None) == address_bucket("not an address") == "unknown"


# --- when the cache is down, budgets fail open --------------------------------------------


@pytest.fixture
def cache_down():
    # A port nothing listens on: every cache call fails with a connection error. Restored
    # here, not by `settings`, so the windows can be cleared on the real cache afterwards.
    with override_settings(CACHES={"default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:9/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }}):
        budgets_process_reset()
        yield
    budgets_process_reset()


def test_budgets_fail_open_when_the_cache_is_unreachable(service, settings, cache_down):
    limits(settings, KEY_REPORTS_PER_MINUTE=1, KEY_DEAD_LETTERS_PER_MINUTE=1,
           KEY_CIRCUIT_CALLS_PER_MINUTE=1, IP_UNAUTHENTICATED_PER_MINUTE=1)
    client = key_client(service)
    assert [post(client, "/api/v1/errors/", {"code": "E"}).status_code for _ in range(3)] \
        == [201] * 3
    assert [post(client, "/api/v1/dead-letters/", {"operation": "op"}).status_code
            for _ in range(2)] == [201] * 2
    assert [post(client, "/api/v1/circuits/op/permit/").status_code for _ in range(2)] \
        == [200] * 2
    guesser = Client(HTTP_AUTHORIZATION="Bearer fl_guess")
    assert [post(guesser, "/api/v1/errors/", {}).status_code for _ in range(2)] == [401] * 2
    assert ErrorLogEntry.objects.count() == 3


def test_after_a_cache_failure_the_cache_is_not_asked_again_at_once(cache_down):
    from resilience.ingest import rate_limits

    assert rate_limit_consume(key_id=1, limit=1, now=0.0) is None  # fails, and opens
    assert rate_limits._Outage.active()
    assert rate_limit_consume(key_id=1, limit=1, now=0.0) is None  # not asked: still open


# --- leases: a busy key's budget taken ahead -----------------------------------------------


def _shared_count(key_id: int, now: float) -> int:
    from resilience.ingest import rate_limits

    name = rate_limits._cache_key(f"key:{key_id}:reports", rate_limits._window(now))
    return int(cache.get(name) or 0)


def test_a_busy_key_takes_its_budget_a_lease_at_a_time(service, redis_url, budget_clock):
    now = budget_clock.now
    for _ in range(150):
        assert rate_limit_consume(key_id=901, limit=10_000, now=now) is None
    # 150 spent from two leases of 1 + 100: the shared count says what was taken.
    assert _shared_count(901, now) == 202


def test_leases_never_admit_more_than_the_limit_across_processes(service, redis_url,
                                                                  budget_clock):
    now, admitted = budget_clock.now, 0
    for _ in range(30):  # three "processes" taking turns: each forgets its lease
        for _ in range(5):
            admitted += rate_limit_consume(key_id=902, limit=1_000, now=now, cost=40) is None
        budgets_process_reset()
    assert admitted * 40 <= 1_000 <= _shared_count(902, now) + 40
    assert admitted >= 1_000 // 40 - 30  # refused early by at most the leases left behind


def test_a_cost_larger_than_what_is_left_takes_nothing(service, redis_url, budget_clock):
    now = budget_clock.now
    assert rate_limit_consume(key_id=903, limit=500, now=now, cost=480) is None
    held = _shared_count(903, now)
    assert rate_limit_consume(key_id=903, limit=500, now=now, cost=30) == 60
    assert _shared_count(903, now) == held
    budgets_process_reset()  # another process: what is left is still there for it
    assert rate_limit_consume(key_id=903, limit=500, now=now, cost=500 - held) is None
