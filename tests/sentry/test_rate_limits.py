"""Per-key rate limits: the counter, the Sentry 429 and the native API's 429."""

import json

from django.test import Client

from resilience.models import ErrorLogEntry
from resilience.services.rate_limits import rate_limit_consume
from tests import factories
from tests.sentry.envelopes import envelope, exception_event
from tests.sentry.live import wait_for_minute_start

T0 = 1_750_000_000.0 - (1_750_000_000 % 60)  # the start of a minute


def test_a_key_without_a_limit_is_never_limited():
    assert all(rate_limit_consume(key_id=1, limit=None, now=T0) is None for _ in range(100))


def test_the_limit_holds_per_key_per_minute():
    assert [rate_limit_consume(key_id=1, limit=3, now=T0 + 1) for _ in range(4)] == \
        [None, None, None, 59]
    assert rate_limit_consume(key_id=2, limit=3, now=T0 + 1) is None  # another key
    assert rate_limit_consume(key_id=1, limit=3, now=T0 + 60) is None  # the next minute


def test_a_batch_counts_as_its_reports_and_a_refused_one_gives_its_count_back():
    assert rate_limit_consume(key_id=1, limit=10, cost=8, now=T0) is None
    assert rate_limit_consume(key_id=1, limit=10, cost=5, now=T0 + 30) == 30
    assert rate_limit_consume(key_id=1, limit=10, cost=2, now=T0 + 31) is None


def test_retry_after_is_at_least_a_second():
    rate_limit_consume(key_id=1, limit=1, now=T0 + 59.9)
    assert rate_limit_consume(key_id=1, limit=1, now=T0 + 59.9) == 1


def test_the_sentry_endpoint_answers_429_with_both_headers(service):
    key = factories.service_key(service, rate_limit_per_minute=2)[0]
    auth = f"Sentry sentry_version=7, sentry_key={key.public_key}"
    wait_for_minute_start()
    client = Client()

    def send():
        return client.post(f"/api/{service.pk}/envelope/",
                           data=envelope(("event", exception_event())),
                           content_type="application/x-sentry-envelope",
                           HTTP_X_SENTRY_AUTH=auth)

    assert [send().status_code for _ in range(2)] == [200, 200]
    response = send()
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert response["X-Sentry-Rate-Limits"] == f"{retry_after}::key"
    assert "rate limit" in response["X-Sentry-Error"]
    assert ErrorLogEntry.objects.count() == 2


def test_the_native_api_answers_429_with_retry_after(service):
    _key, raw = factories.service_key(service, rate_limit_per_minute=5)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    wait_for_minute_start()

    def send(body):
        return client.post("/api/v1/errors/", data=json.dumps(body),
                           content_type="application/json")

    assert send([{"code": "ECONNREFUSED"}] * 4).status_code == 201
    response = send([{"code": "ECONNREFUSED"}] * 2)  # 6 > 5: the whole batch is refused
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "rate limit" in response.json()["message"].lower()
    assert send({"code": "ECONNREFUSED"}).status_code == 201  # the refused two gave back
    assert ErrorLogEntry.objects.count() == 5
