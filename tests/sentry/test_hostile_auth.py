"""Auth before work: what a request without a valid key (or past its limits) may cost.

The work is measured by Faultline's own counters (bytes produced by decompression, items
framed), never by the clock.
"""

import functools
import json

import pytest
import zstandard
from django.test import Client
from prometheus_client import REGISTRY

from resilience.ingest.keys import service_key_dsn
from resilience.models import ErrorLogEntry
from resilience.sentry.decoding import STEP
from resilience.sentry.views import MAX_UNAUTHENTICATED_HEADER_BYTES
from tests import factories
from tests.sentry.envelopes import compress, envelope, event_id, exception_event

ENVELOPE_TYPE = "application/x-sentry-envelope"
UNKNOWN_KEY = "0" * 32
EMPTY_ITEM = b'{"type":"a"}\n\n'
# Before the key is known: the header line, plus at most one decompression step.
BEFORE_AUTH = MAX_UNAUTHENTICATED_HEADER_BYTES + STEP


@functools.cache
def empty_items_bomb(header: bytes, count: int = 2_100_000) -> bytes:
    """The issue's body: 2.1 million empty items (29 MB) in about 3 KB of zstd."""
    return zstandard.ZstdCompressor(level=3).compress(header + b"\n" + EMPTY_ITEM * count)


def decompressed() -> float:
    return REGISTRY.get_sample_value("faultline_body_decompressed_bytes_total") or 0.0


def framed() -> float:
    return REGISTRY.get_sample_value("faultline_sentry_envelope_items_total") or 0.0


class Work:
    """Decompressed bytes and framed items spent inside the block."""

    def __enter__(self):
        self._bytes, self._items = decompressed(), framed()
        return self

    def __exit__(self, *exc):
        self.bytes = decompressed() - self._bytes
        self.items = framed() - self._items


def post(path, body, *, auth=None, encoding=None, **extra):
    if auth:
        extra["HTTP_X_SENTRY_AUTH"] = auth
    if encoding:
        extra["HTTP_CONTENT_ENCODING"] = encoding
    return Client().post(path, data=body, content_type=ENVELOPE_TYPE, **extra)


def url(service) -> str:
    return f"/api/{service.pk}/envelope/"


def refused(response, status, words):
    assert response.status_code == status, response.content
    assert words in response.json()["detail"], response.json()
    assert words in response["X-Sentry-Error"]


@pytest.fixture
def dsn(sentry_key, settings):
    settings.EXTERNAL_URL = "https://faultline.example"
    return service_key_dsn(sentry_key)


# --- the zstd bomb of empty items --------------------------------------------------------


def test_a_bomb_whose_dsn_has_a_wrong_key_costs_only_its_header_line(service):
    header = json.dumps({"dsn": f"https://{UNKNOWN_KEY}@h/{service.pk}"}).encode()
    with Work() as work:
        response = post(url(service), empty_items_bomb(header), encoding="zstd")
    refused(response, 403, "unknown sentry_key")
    assert work.items == 0
    assert 0 < work.bytes <= BEFORE_AUTH  # of 29 MB
    assert not ErrorLogEntry.objects.exists()


def test_a_bomb_with_a_wrong_key_beside_it_is_refused_before_decompression(service):
    with Work() as work:
        response = post(url(service), empty_items_bomb(b"{}"), encoding="zstd",
                        auth=f"Sentry sentry_version=7, sentry_key={UNKNOWN_KEY}")
    refused(response, 403, "unknown sentry_key")
    assert (work.bytes, work.items) == (0, 0)


def test_a_bomb_with_no_key_anywhere_costs_only_its_header_line(service):
    with Work() as work:
        response = post(url(service), empty_items_bomb(b'{"event_id":"x"}'), encoding="zstd")
    refused(response, 403, "missing credentials")
    assert work.items == 0
    assert work.bytes <= BEFORE_AUTH


def test_a_header_line_longer_than_its_bound_is_refused_without_reading_on(service):
    body = compress(b'{"dsn":"' + b"k" * 20_000_000 + b'"}\n', "zstd")
    with Work() as work:
        response = post(url(service), body, encoding="zstd")
    refused(response, 413, f"envelope header is over {MAX_UNAUTHENTICATED_HEADER_BYTES} bytes")
    assert work.bytes <= BEFORE_AUTH


@pytest.mark.parametrize("key_in", ["header", "dsn"])
def test_a_bomb_with_a_valid_key_stops_at_the_item_limit(service, auth_header, dsn, key_in):
    if key_in == "header":
        body, auth = empty_items_bomb(b"{}"), auth_header
    else:
        body, auth = empty_items_bomb(json.dumps({"dsn": dsn}).encode()), None
    with Work() as work:
        response = post(url(service), body, encoding="zstd", auth=auth)
    refused(response, 413, "more than 1000 items; send at most 1000 in one envelope")
    assert "X-Sentry-Rate-Limits" not in response  # not a rate limit: the SDK must not stop
    assert work.items == 1000
    assert work.bytes <= 1001 * len(EMPTY_ITEM) + len(dsn) + 2 * STEP
    assert not ErrorLogEntry.objects.exists()


def test_a_key_with_no_budget_left_is_refused_before_its_body_is_read(service, budget_clock,
                                                                       settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "RATE_LIMIT_KEY_OTHER_ITEMS_PER_MINUTE": 1}
    key = factories.service_key(service, rate_limit_per_minute=1)[0]
    auth = f"Sentry sentry_version=7, sentry_key={key.public_key}"
    both = envelope(("event", exception_event()), ("transaction", {"type": "transaction"}))
    assert post(url(service), both, auth=auth).status_code == 200
    with Work() as work:
        response = post(url(service), empty_items_bomb(b"{}"), encoding="zstd", auth=auth)
    refused(response, 429, "rate limits exceeded for this key")
    assert response["X-Sentry-Rate-Limits"] == "60::key"
    assert (work.bytes, work.items) == (0, 0)


def test_a_key_with_no_room_for_events_is_refused_at_its_first_event(service, budget_clock):
    key = factories.service_key(service, rate_limit_per_minute=1)[0]
    auth = f"Sentry sentry_version=7, sentry_key={key.public_key}"
    assert post(url(service), envelope(("event", exception_event())), auth=auth).status_code \
        == 200
    events = [("event", {"event_id": event_id(), "message": "boom"}) for _ in range(500)]
    with Work() as work:
        response = post(url(service), envelope(*events), auth=auth)
    refused(response, 429, "rate limit of 1 reports per minute")
    assert work.items == 1  # the rest of the body is never framed


def test_a_valid_dsn_key_in_a_compressed_envelope_is_accepted(service, dsn):
    event = exception_event()
    body = compress(envelope(("event", event), headers={"dsn": dsn}), "zstd")
    response = post(url(service), body, encoding="zstd")
    assert response.status_code == 200, response.content
    assert ErrorLogEntry.objects.get().event_id == event["event_id"]


# --- the 1,000 cap, as on the native API -------------------------------------------------


def test_an_envelope_of_20000_events_is_refused_and_stores_nothing(service, auth_header):
    events = [("event", {"event_id": event_id(), "message": "boom"}) for _ in range(20_000)]
    with Work() as work:
        response = post(url(service), compress(envelope(*events), "gzip"), encoding="gzip",
                        auth=auth_header)
    refused(response, 413, "more than 1000 items")
    assert work.items == 1000
    assert not ErrorLogEntry.objects.exists()


def test_an_envelope_of_exactly_the_limit_is_stored_whole(service, auth_header, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_MAX_BATCH": 50}
    events = [("event", {"event_id": event_id(), "message": "boom"}) for _ in range(49)]
    response = post(url(service), envelope(*events, ("session", {"sid": "s"})),
                    auth=auth_header)
    assert response.status_code == 200, response.content
    assert ErrorLogEntry.objects.count() == 49
    over = envelope(*[("event", {"event_id": event_id(), "message": "x"})] * 51)
    refused(post(url(service), over, auth=auth_header), 413, "more than 50 items")


# --- hostile credentials: a clear 4xx, never a 500 ----------------------------------------


@pytest.mark.parametrize("key", ["x" * 5000, "k%C3%A9y", "a%20b", "a'--"])
def test_a_key_that_cannot_be_a_key_is_a_403(service, key):
    response = Client().post(f"{url(service)}?sentry_key={key}",
                             data=envelope(("event", exception_event())),
                             content_type=ENVELOPE_TYPE)
    refused(response, 403, "unknown sentry_key")


def test_a_nul_byte_in_a_key_is_a_403_not_a_database_error(service, postgres):
    # PostgreSQL refuses NUL in text: such a key must never reach the lookup.
    refused(post(url(service), envelope(("event", exception_event())),
                 auth="Sentry sentry_version=7, sentry_key=abc\x00def"), 403, "unknown sentry_key")
    body = envelope(("event", exception_event()),
                    headers={"dsn": f"https://ab\u0000c@h/{service.pk}"})
    refused(post(url(service), body), 403, "unknown sentry_key")


def test_json_nested_deep_in_the_header_before_auth_is_a_400(service):
    response = post(url(service), b"[" * 4000 + b"]" * 4000 + b"\n")  # within the bound
    refused(response, 400, "Invalid envelope")


def test_a_refusal_quoting_control_characters_still_answers(service, auth_header):
    response = post(url(service), b'{}\n{"type":"x\\r\\nSet-Cookie: a=b"}', auth=auth_header)
    refused(response, 400, "truncated")
    assert "\n" not in response["X-Sentry-Error"] and "\r" not in response["X-Sentry-Error"]
    assert "Set-Cookie" not in response


def test_an_item_header_line_over_its_bound_is_a_413(service, auth_header):
    body = b'{}\n{"type":"attachment","filename":"' + b"f" * 100_000 + b'"}\n{}\n'
    refused(post(url(service), body, auth=auth_header), 413,
            "header of item 1 is over 65536 bytes")
