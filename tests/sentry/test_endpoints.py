"""POST /api/<project>/envelope/ and /store/ with hand-built bodies (Django test client)."""

import json

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from resilience.digest.service import digest_batch
from resilience.ingest.keys import service_key_revoke
from resilience.models import ErrorGroup, ErrorLogEntry, EventAttachment
from tests import factories
from tests.sentry.envelopes import (
    compress,
    envelope,
    event_id,
    exception_event,
    zeros_bomb,
)
from tests.write_paths import stored_event_ids

ENVELOPE_TYPE = "application/x-sentry-envelope"


@pytest.fixture
def client():
    return Client()


def url(service, kind="envelope", slash=True):
    return f"/api/{service.pk}/{kind}/" if slash else f"/api/{service.pk}/{kind}"


def post(client, path, body: bytes, *, auth=None, encoding=None, **extra):
    headers = {}
    if auth:
        headers["HTTP_X_SENTRY_AUTH"] = auth
    if encoding:
        headers["HTTP_CONTENT_ENCODING"] = encoding
    return client.post(path, data=body, content_type=ENVELOPE_TYPE, **headers, **extra)


def refused(response, status, words):
    assert response.status_code == status, response.content
    assert words in response["X-Sentry-Error"], response["X-Sentry-Error"]
    assert words in response.json()["detail"]
    assert response["Access-Control-Allow-Origin"] == "*"


def dropped(item_type):
    return REGISTRY.get_sample_value("faultline_sentry_items_dropped_total",
                                     {"type": item_type}) or 0.0


# --- accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [None, "gzip", "deflate", "deflate-raw", "br", "zstd"])
@pytest.mark.parametrize("slash", [True, False])
def test_an_envelope_event_is_classified_and_stored(client, service, auth_header, encoding,
                                                    slash):
    event = exception_event(environment="production", release="shop@1.0",
                            tags={"team": "core"}, user={"id": "u-7"})
    body = compress(envelope(("event", event), headers={"event_id": event["event_id"]}),
                    encoding or "identity")
    header = "deflate" if encoding == "deflate-raw" else encoding
    response = post(client, url(service, slash=slash), body, auth=auth_header, encoding=header)
    assert response.status_code == 200, response.content
    assert response.json() == {"id": event["event_id"]}
    assert response["Access-Control-Allow-Origin"] == "*"
    entry = ErrorLogEntry.objects.get()
    assert entry.service == service
    assert entry.source == "sentry"
    assert entry.event_id == event["event_id"]
    assert entry.name == "ConnectionRefusedError"
    assert entry.category == "TRANSIENT"
    assert entry.strategy == "RETRY"
    assert entry.environment == "production" and entry.release == "shop@1.0"
    assert entry.user_id == "u-7"
    assert entry.extra["tags"] == {"team": "core"}
    assert entry.extra["frames"][-1]["function"] == "charge"
    assert "Traceback (most recent call last):" in entry.stack_trace


def test_length_prefixed_and_newline_terminated_items_with_unknown_types(client, service,
                                                                          auth_header):
    event = exception_event()
    body = (
        json.dumps({"event_id": event["event_id"], "sent_at": "2025-06-01T12:00:00Z"}).encode()
        + b"\n"
        + b'{"type":"session"}\n{"sid":"a","status":"ok"}\n'
        + b'{"type":"attachment","length":5,"filename":"a.txt"}\nab\ncd\n'
        + b'{"type":"something_new"}\n{"whatever": true}\n'
        + b'{"type":"event"}\n' + json.dumps(event).encode() + b"\n"
        + b'{"type":"client_report","length":2}\n{}'
    )
    before = {t: dropped(t) for t in ("session", "other", "client_report")}
    response = post(client, url(service), body, auth=auth_header)
    assert response.status_code == 200, response.content
    assert response.json() == {"id": event["event_id"]}
    assert ErrorLogEntry.objects.count() == 1
    for item_type in before:
        assert dropped(item_type) == before[item_type] + 1, item_type
    # The attachment is kept, with the newline inside its declared length.
    assert EventAttachment.objects.get().size == 5


def test_an_envelope_without_an_event_is_answered_with_an_empty_object(client, service,
                                                                        auth_header):
    before = dropped("transaction")
    body = envelope(("transaction", {"type": "transaction", "spans": []}),
                    ("sessions", {"aggregates": []}), headers={"event_id": event_id()})
    response = post(client, url(service), body, auth=auth_header)
    assert response.status_code == 200
    assert response.json() == {}
    assert not ErrorLogEntry.objects.exists()
    assert dropped("transaction") == before + 1


def test_an_error_item_is_taken_like_an_event(client, service, auth_header):
    event = exception_event()
    response = post(client, url(service), envelope(("error", event)), auth=auth_header)
    assert response.json() == {"id": event["event_id"]}
    assert ErrorLogEntry.objects.count() == 1


def test_the_store_endpoint_takes_one_event(client, service, auth_header):
    event = exception_event()
    for slash in (True, False):
        response = post(client, url(service, "store", slash), compress(
            json.dumps(event).encode(), "gzip"), auth=auth_header, encoding="gzip")
        assert response.status_code == 200, response.content
        assert response.json() == {"id": event["event_id"]}
    assert ErrorLogEntry.objects.count() == 1  # the second was the same event


def test_an_envelopes_events_are_all_stored_on_every_write_path(write_path, client, service,
                                                                 auth_header):
    events = [exception_event() for _ in range(3)]
    body = envelope(*(("event", event) for event in events), ("session", {"sid": "s"}))
    response = post(client, url(service), body, auth=auth_header)
    assert response.status_code == 200, response.content
    assert response.json() == {"id": events[0]["event_id"]}
    assert sorted(stored_event_ids(write_path).values()) == sorted(e["event_id"] for e in events)


def test_the_same_event_twice_is_stored_once(write_path, client, service, auth_header):
    event = exception_event()
    body = envelope(("event", event))
    for _ in range(2):
        assert post(client, url(service), body, auth=auth_header).status_code == 200
    assert post(client, url(service), envelope(("event", event), ("event", event)),
                auth=auth_header).status_code == 200
    assert list(stored_event_ids(write_path).values()) == [event["event_id"]]


def test_the_envelope_headers_event_id_stands_in_for_a_missing_one(client, service,
                                                                    auth_header):
    eid = event_id()
    event = exception_event()
    del event["event_id"]
    response = post(client, url(service), envelope(("event", event), headers={"event_id": eid}),
                    auth=auth_header)
    assert response.json() == {"id": eid}
    assert ErrorLogEntry.objects.get().event_id == eid


def test_fatal_raises_the_severity_to_critical_and_alerts(client, service, auth_header):
    event = {"event_id": event_id(), "level": "fatal", "message": "worker out of memory"}
    assert post(client, url(service), envelope(("event", event)), auth=auth_header).status_code \
        == 200
    entry = ErrorLogEntry.objects.get()
    assert entry.severity == "CRITICAL"
    assert entry.strategy == "IMMEDIATE_ALERT"
    assert entry.extra["level"] == "fatal"


def test_a_captured_info_message_is_low_and_no_page(client, service, auth_header):
    event = {"event_id": event_id(), "level": "info", "logentry": {"formatted": "cache warmed"}}
    post(client, url(service), envelope(("event", event)), auth=auth_header)
    entry = ErrorLogEntry.objects.get()
    assert entry.message == "cache warmed"
    assert entry.severity == "LOW"  # its level, not the seed's PERMANENT/HIGH for no code
    assert entry.strategy != "IMMEDIATE_ALERT"
    assert entry.extra["event_type"] == "message"


def test_a_captured_error_message_keeps_its_classified_severity(client, service, auth_header):
    event = {"event_id": event_id(), "level": "error", "message": "cache cold"}
    post(client, url(service), envelope(("event", event)), auth=auth_header)
    assert ErrorLogEntry.objects.get().severity == "HIGH"  # unknown → PERMANENT/HIGH (seed)


def test_events_with_one_fingerprint_make_one_group(client, service, auth_header):
    for type_ in ("ValueError", "KeyError", "TypeError"):
        event = exception_event(type_=type_, fingerprint=["checkout-flaky"])
        post(client, url(service), envelope(("event", event)), auth=auth_header)
    post(client, url(service), envelope(("event", exception_event(type_="ValueError"))),
         auth=auth_header)
    digest_batch(limit=100)
    counts = sorted(ErrorGroup.objects.values_list("times_seen", flat=True))
    assert counts == [1, 3]


def test_a_one_line_edit_does_not_split_the_group(client, service, auth_header):
    for line in (10, 11, 250):
        event = exception_event()
        for frame in event["exception"]["values"][0]["stacktrace"]["frames"]:
            frame["lineno"] = line
        post(client, url(service), envelope(("event", event)), auth=auth_header)
    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    assert group.times_seen == 3
    assert group.culprit == "app.payments.client in charge"


def test_the_dsn_in_the_envelope_header_is_enough(client, service, sentry_key, settings):
    settings.EXTERNAL_URL = "https://faultline.example"
    from resilience.ingest.keys import service_key_dsn

    event = exception_event()
    body = envelope(("event", event), headers={"dsn": service_key_dsn(sentry_key)})
    assert post(client, url(service), body).status_code == 200


def test_the_key_may_come_in_the_query_string(client, service, sentry_key):
    event = exception_event()
    response = post(client, url(service) + f"?sentry_key={sentry_key.public_key}&sentry_version=7",
                    envelope(("event", event)))
    assert response.status_code == 200


def test_cors_preflight_is_answered(client, service):
    response = client.options(url(service), HTTP_ORIGIN="https://shop.example",
                              HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    allowed = response["Access-Control-Allow-Headers"]
    for header in ("x-sentry-auth", "content-type", "content-encoding"):
        assert header in allowed


# --- refused, and nothing stored ---------------------------------------------------------


def test_missing_credentials_are_a_403(client, service):
    refused(post(client, url(service), envelope(("event", exception_event()))), 403,
            "missing credentials")
    refused(post(client, url(service, "store"), b"{}"), 403, "missing credentials")


def test_an_unknown_key_is_a_403(client, service):
    auth = "Sentry sentry_version=7, sentry_key=" + "0" * 32
    refused(post(client, url(service), envelope(("event", exception_event())), auth=auth), 403,
            "unknown sentry_key")


def test_a_revoked_key_is_a_403(client, service, sentry_key, auth_header):
    service_key_revoke(key=sentry_key, actor=None)
    refused(post(client, url(service), envelope(("event", exception_event())), auth=auth_header),
            403, "revoked")


def test_a_key_of_another_project_is_a_403(client, auth_header):
    other = factories.ServiceFactory()
    refused(post(client, url(other), envelope(("event", exception_event())), auth=auth_header),
            403, f"does not belong to project {other.pk}")


def test_conflicting_credentials_are_a_400(client, service, sentry_key, auth_header):
    other_key = factories.service_key(service)[0]
    refused(post(client, url(service) + f"?sentry_key={other_key.public_key}",
                 envelope(("event", exception_event())), auth=auth_header), 400, "conflicting")
    body = envelope(("event", exception_event()),
                    headers={"dsn": f"http://{other_key.public_key}@h/{service.pk}"})
    refused(post(client, url(service), body, auth=auth_header), 400, "conflicting")
    body = envelope(("event", exception_event()),
                    headers={"dsn": f"http://{sentry_key.public_key}@h/{service.pk + 1}"})
    refused(post(client, url(service), body, auth=auth_header), 400, "conflicting")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b'{"event_id": "x"}\n{"type":"event","length":500}\n{"short": true}\n', "truncated"),
        (b'{}\n{"type":"event"}\n{not json}\n', "not valid JSON"),
        (b'{}\n{"type":"event"}\n["a list"]\n', "must be a JSON object"),
        (b'{}\n{"type":"event"}\n{"message": "no id"}\n', "event_id"),
        (b'{}\n{"type":"event"}\n{"event_id": "not-hex", "message": "x"}\n', "event_id"),
        (b'{}\n{"type":"event"}\n{"event_id": "' + b"a" * 32 + b'", "timestamp": "soon"}\n',
         "timestamp"),
    ],
)
def test_a_bad_envelope_is_a_400_that_says_what_is_wrong(client, service, auth_header, body,
                                                         words):
    refused(post(client, url(service), body, auth=auth_header), 400, words)
    assert not ErrorLogEntry.objects.exists()


def test_one_bad_event_stores_none_of_the_envelope(write_path, client, service, auth_header):
    good = exception_event()
    body = envelope(("event", good), ("event", {"message": "no event id"}))
    refused(post(client, url(service), body, auth=auth_header), 400, "item 2")
    assert stored_event_ids(write_path) == {}


def test_a_truncated_gzip_body_is_a_400(client, service, auth_header):
    body = compress(envelope(("event", exception_event())), "gzip")
    refused(post(client, url(service), body[:-20], auth=auth_header, encoding="gzip"), 400,
            "truncated")


def test_an_unknown_content_encoding_is_a_415(client, service, auth_header):
    refused(post(client, url(service), b"xx", auth=auth_header, encoding="lzma"), 415, "lzma")


def test_an_oversized_event_is_a_413(client, service, auth_header, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "SENTRY_MAX_EVENT_BYTES": 2000}
    event = exception_event(extra={"blob": "x" * 3000})
    refused(post(client, url(service), envelope(("event", exception_event()), ("event", event)),
                 auth=auth_header), 413, "limit for one event")
    refused(post(client, url(service, "store"), json.dumps(event).encode(), auth=auth_header),
            413, "too large")
    assert not ErrorLogEntry.objects.exists()


def test_an_oversized_body_is_a_413_before_it_is_read(client, service, auth_header, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "SENTRY_MAX_COMPRESSED_BYTES": 1000}
    body = envelope(("event", exception_event(extra={"blob": "x" * 2000})))
    refused(post(client, url(service), body, auth=auth_header), 413, "too large")


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_a_decompression_bomb_is_a_413(client, service, auth_header, encoding):
    # 200 MB of zeros; refused at the default 50 MiB limit, never inflated whole.
    response = post(client, url(service), zeros_bomb(encoding), auth=auth_header,
                    encoding=encoding)
    refused(response, 413, "decompressed body is over the limit")
    assert not ErrorLogEntry.objects.exists()


def test_only_post_is_accepted(client, service):
    response = client.get(url(service))
    assert response.status_code == 405
    assert "POST" in response["Allow"]
