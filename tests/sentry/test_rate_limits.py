"""Rate limits: the counter, the Sentry 429 and the native API's 429; envelopes counting
their items, the per-address budget for wrong credentials, and failing open."""

import json

from django.test import Client

from resilience.ingest.rate_limits import rate_limit_consume
from resilience.models import ErrorLogEntry
from tests import factories
from tests.sentry.envelopes import envelope, exception_event

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


def test_the_sentry_endpoint_answers_429_with_both_headers(service, budget_clock):
    key = factories.service_key(service, rate_limit_per_minute=2)[0]
    auth = f"Sentry sentry_version=7, sentry_key={key.public_key}"
    client = Client()

    def send():
        return client.post(f"/api/{service.pk}/envelope/",
                           data=envelope(("event", exception_event())),
                           content_type="application/x-sentry-envelope",
                           HTTP_X_SENTRY_AUTH=auth)

    assert [send().status_code for _ in range(2)] == [200, 200]
    response = send()
    assert response.status_code == 429
    assert response["Retry-After"] == "60"  # the clock stands at the start of the minute
    assert response["X-Sentry-Rate-Limits"] == "60:error;default:key"  # events only
    assert "rate limit" in response["X-Sentry-Error"]
    assert ErrorLogEntry.objects.count() == 2


def test_the_native_api_answers_429_with_retry_after(service, budget_clock):
    _key, raw = factories.service_key(service, rate_limit_per_minute=5)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

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


# --- an envelope counts its items; wrong credentials count per address --------------------


def send_envelope(service, body, *, auth=None, address="127.0.0.1"):
    extra = {"HTTP_X_SENTRY_AUTH": auth} if auth else {}
    return Client().post(f"/api/{service.pk}/envelope/", data=body,
                         content_type="application/x-sentry-envelope", REMOTE_ADDR=address,
                         **extra)


def test_an_envelope_counts_its_error_events_against_the_reports_budget(service,
                                                                        budget_clock):
    key = factories.service_key(service, rate_limit_per_minute=3)[0]
    auth = f"Sentry sentry_version=7, sentry_key={key.public_key}"
    body = envelope(("event", exception_event()), ("event", exception_event()),
                    ("session", {"sid": "s"}), ("client_report", {"discarded_events": []}))
    assert send_envelope(service, body, auth=auth).status_code == 200  # 2 of 3
    assert send_envelope(service, envelope(("event", exception_event())),
                         auth=auth).status_code == 200
    response = send_envelope(service, envelope(("event", exception_event())), auth=auth)
    assert response.status_code == 429
    assert "an envelope counts each of its error events" in response["X-Sentry-Error"]
    assert ErrorLogEntry.objects.count() == 3


def test_items_other_than_events_are_accepted_while_the_event_budget_is_used_up(
        service, budget_clock):
    key = factories.service_key(service, rate_limit_per_minute=1)[0]
    auth = f"Sentry sentry_version=7, sentry_key={key.public_key}"
    assert send_envelope(service, envelope(("event", exception_event())),
                         auth=auth).status_code == 200
    others = envelope(("transaction", {"type": "transaction"}), ("session", {"sid": "s"}),
                      ("client_report", {"discarded_events": []}), ("profile", {}))
    response = send_envelope(service, others, auth=auth)
    assert response.status_code == 200, response.content
    assert "X-Sentry-Rate-Limits" not in response
    mixed = envelope(("transaction", {"type": "transaction"}), ("event", exception_event()))
    response = send_envelope(service, mixed, auth=auth)
    assert response.status_code == 429
    assert response["X-Sentry-Rate-Limits"] == "60:error;default:key"
    assert ErrorLogEntry.objects.count() == 1


def test_past_their_own_budget_other_items_are_named_on_an_accepted_answer(service, settings,
                                                                          budget_clock):
    settings.FAULTLINE = {**settings.FAULTLINE, "RATE_LIMIT_KEY_OTHER_ITEMS_PER_MINUTE": 2}
    key = factories.service_key(service, rate_limit_per_minute=10)[0]
    auth = f"Sentry sentry_version=7, sentry_key={key.public_key}"
    others = envelope(("transaction", {"type": "transaction"}), ("sessions", {}))
    assert "X-Sentry-Rate-Limits" not in send_envelope(service, others, auth=auth)
    event = exception_event()
    response = send_envelope(service, envelope(("event", event), *[
        ("transaction", {"type": "transaction"})] * 2, ("client_report", {})), auth=auth)
    assert response.status_code == 200  # the event is stored; the others are dropped anyway
    assert response["X-Sentry-Rate-Limits"] == "60:internal;transaction:key"
    assert ErrorLogEntry.objects.get().event_id == event["event_id"]


def test_the_default_budget_applies_to_a_key_without_its_own(service, sentry_key, settings,
                                                            budget_clock):
    settings.FAULTLINE = {**settings.FAULTLINE, "RATE_LIMIT_KEY_REPORTS_PER_MINUTE": 2}
    auth = f"Sentry sentry_version=7, sentry_key={sentry_key.public_key}"
    codes = [send_envelope(service, envelope(("event", exception_event())), auth=auth)
             .status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_wrong_credentials_from_one_address_get_429_past_its_budget(service, sentry_key,
                                                                    settings, budget_clock):
    settings.FAULTLINE = {**settings.FAULTLINE, "RATE_LIMIT_IP_UNAUTHENTICATED_PER_MINUTE": 2}
    body = envelope(("event", exception_event()))
    wrong = "Sentry sentry_version=7, sentry_key=" + "0" * 32
    assert [send_envelope(service, body, auth=wrong, address="198.51.100.1").status_code,
            send_envelope(service, body, address="198.51.100.1").status_code] == [403, 403]
    response = send_envelope(service, body, auth=wrong, address="198.51.100.1")
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert response["X-Sentry-Rate-Limits"] == "60::key"
    assert "unknown sentry_key" in response["X-Sentry-Error"]  # still says what is wrong
    # The right key from the same address (a proxy, a NAT) is not refused for it...
    right = f"Sentry sentry_version=7, sentry_key={sentry_key.public_key}"
    assert send_envelope(service, body, auth=right, address="198.51.100.1").status_code == 200
    # ... and another address has a budget of its own.
    assert send_envelope(service, body, auth=wrong, address="198.51.100.2").status_code == 403
    assert ErrorLogEntry.objects.count() == 1


def test_a_refusal_after_authentication_does_not_count_against_the_address(service,
                                                                           auth_header,
                                                                           settings,
                                                                           budget_clock):
    settings.FAULTLINE = {**settings.FAULTLINE, "RATE_LIMIT_IP_UNAUTHENTICATED_PER_MINUTE": 1}
    for _ in range(3):  # a bad body with a good key is the key's problem, not the address's
        assert send_envelope(service, b'{}\n{"type":"event"}\nnot json\n',
                             auth=auth_header).status_code == 400
    wrong = "Sentry sentry_version=7, sentry_key=" + "0" * 32
    assert send_envelope(service, b"{}", auth=wrong).status_code == 403


def test_the_sentry_endpoints_fail_open_when_the_cache_is_unreachable(service, settings):
    from django.test import override_settings

    from resilience.ingest.rate_limits import budgets_process_reset

    settings.FAULTLINE = {**settings.FAULTLINE, "RATE_LIMIT_IP_UNAUTHENTICATED_PER_MINUTE": 1}
    key = factories.service_key(service, rate_limit_per_minute=1)[0]
    auth = f"Sentry sentry_version=7, sentry_key={key.public_key}"
    dead = {"default": {"BACKEND": "django_redis.cache.RedisCache",
                        "LOCATION": "redis://127.0.0.1:9/0",
                        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5}}}
    budgets_process_reset()
    try:
        with override_settings(CACHES=dead):
            codes = [send_envelope(service, envelope(("event", exception_event())), auth=auth)
                     .status_code for _ in range(3)]
            wrong = [send_envelope(service, b"{}").status_code for _ in range(2)]
    finally:
        budgets_process_reset()
    assert codes == [200, 200, 200]
    assert wrong == [403, 403]
    assert ErrorLogEntry.objects.count() == 3
