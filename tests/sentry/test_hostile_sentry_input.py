"""Sentry store and envelope with hostile events, on PostgreSQL: the report schema's window
and limits hold here too; text PostgreSQL refuses is repaired (the Sentry path is lenient),
structure it cannot hold is a 400; nothing is half-stored and later events still land."""

import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone

from resilience.digest.service import digest_batch
from resilience.models import ErrorLogEntry
from tests import factories
from tests.sentry.envelopes import envelope, event_id, exception_event

ENVELOPE_TYPE = "application/x-sentry-envelope"
pytestmark = pytest.mark.usefixtures("postgres")


@pytest.fixture
def client():
    return Client()


def send(client, service, body: bytes, *, auth=None, kind="envelope", query=""):
    headers = {"HTTP_X_SENTRY_AUTH": auth} if auth else {}
    return client.post(f"/api/{service.pk}/{kind}/{query}", data=body,
                       content_type=ENVELOPE_TYPE, **headers)


def refused(response, words: str) -> None:
    assert response.status_code == 400, response.content
    assert words in response.json()["detail"], response.json()
    assert words in response["X-Sentry-Error"]


def test_a_year_1_event_on_store_with_only_the_public_key_is_refused(client, service,
                                                                    sentry_key):
    """The issue's critical case: this body stopped grouping for every service."""
    bad = exception_event(timestamp="0001-01-01T00:00:00+14:00")
    response = send(client, service, json.dumps(bad).encode(), kind="store",
                    query=f"?sentry_key={sentry_key.public_key}")
    refused(response, "the event.timestamp: is before 2000-01-01T00:00:00Z")
    assert ErrorLogEntry.objects.count() == 0

    good = send(client, service, json.dumps(exception_event()).encode(), kind="store",
                query=f"?sentry_key={sentry_key.public_key}")
    assert good.status_code == 200, good.content
    digest_batch(limit=100)
    assert ErrorLogEntry.objects.get().group_id is not None


@pytest.mark.parametrize("timestamp, expected", [
    ("2020-01-01T00:00:00-16:52", datetime(2020, 1, 1, 16, 52, tzinfo=UTC)),
    (946684800.5, datetime(2000, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
])
def test_event_times_are_stored_in_utc(client, service, auth_header, timestamp, expected):
    body = envelope(("event", exception_event(timestamp=timestamp)))
    assert send(client, service, body, auth=auth_header).status_code == 200
    assert ErrorLogEntry.objects.get().timestamp == expected


def test_an_event_time_in_milliseconds_is_taken_as_now(client, service, auth_header):
    before = timezone.now()
    body = envelope(("event", exception_event(timestamp=1.7e12)))
    assert send(client, service, body, auth=auth_header).status_code == 200
    assert ErrorLogEntry.objects.get().timestamp >= before


def test_nul_and_lone_surrogates_are_repaired_everywhere_in_an_event(client, service,
                                                                     auth_header):
    event = exception_event(
        type_="Conn\u0000Error", value="refused \ud83d", environment="prod\u0000",
        tags={"operation": "charge\u0000", "t\u0000": "v\udc00"},
        user={"id": "u\u0000"}, contexts={"app": {"k\u0000": "v\u0000"}},
        extra={"raw": "\u0000"}, fingerprint=["f\u0000"],
    )
    response = send(client, service, envelope(("event", event)), auth=auth_header)
    assert response.status_code == 200, response.content
    entry = ErrorLogEntry.objects.get()  # read back from PostgreSQL
    assert entry.name == "Conn\ufffdError"
    assert entry.message == "refused \ufffd"
    assert entry.environment == "prod\ufffd"
    assert entry.operation == "charge\ufffd"
    assert entry.user_id == "u\ufffd"
    assert entry.fingerprint == ["f\ufffd"]
    assert entry.extra["tags"]["t\ufffd"] == "v\ufffd"
    assert entry.extra["contexts"]["app"] == {"k\ufffd": "v\ufffd"}
    assert entry.extra["extra"] == {"raw": "\ufffd"}


@pytest.mark.parametrize("payload, words", [
    (b'{"event_id": "' + b"a" * 32 + b'", "extra": ' + b"[" * 100_000 + b"]" * 100_000
     + b"}", "is nested more than 64 levels deep"),
    (b'{"event_id": "' + b"a" * 32 + b'", "extra": {"x": NaN}}', "has NaN"),
    (b'{"event_id": "' + b"a" * 32 + b'", "extra": {"x": ' + b"1" * 4301 + b"}}",
     "more than 64 digits"),
])
def test_an_event_json_cannot_hold_is_a_400_and_nothing_of_the_envelope_is_kept(
    client, service, auth_header, payload, words
):
    body = envelope(("event", exception_event()), ("event", payload))
    refused(send(client, service, body, auth=auth_header), words)
    assert ErrorLogEntry.objects.count() == 0


def test_a_deep_envelope_header_is_refused_cheaply_before_the_key_is_known(client, service):
    body = b'{"dsn": ' + b"[" * 1000 + b"]" * 1000 + b"}\n"
    refused(send(client, service, body), "the envelope header is nested more than 64 levels")


def test_an_errno_that_fits_no_column_is_dropped_and_the_event_kept(client, service,
                                                                     auth_header):
    event = exception_event()
    event["exception"]["values"][0]["mechanism"] = {
        "type": "generic", "meta": {"errno": {"number": 10**40}}}
    response = send(client, service, envelope(("event", event)), auth=auth_header)
    assert response.status_code == 200, response.content
    assert ErrorLogEntry.objects.get().errno == ""


def test_one_clients_hostile_events_cost_another_client_nothing(client, service,
                                                                auth_header):
    other = factories.ServiceFactory()
    other_key = factories.service_key(other)[0]
    other_auth = f"Sentry sentry_version=7, sentry_key={other_key.public_key}"
    bad = envelope(("event", exception_event(timestamp="0001-01-01T00:00:00Z")))
    refused(send(client, service, bad, auth=auth_header), "is before 2000-01-01")
    eid = event_id()
    good = envelope(("event", exception_event(eid=eid, message="\u0000")))
    assert send(client, other, good, auth=other_auth).status_code == 200
    assert ErrorLogEntry.objects.get().event_id == eid


@pytest.mark.parametrize("platform", [["node"], {"name": "node"}, 3, None])
def test_a_platform_that_is_not_text_is_kept_and_reads_as_no_platform(client, service,
                                                                     auth_header, platform):
    # The platform picks how a Node system error's code is read; a list or an object
    # there is no platform (it used to be looked up as one: a 500).
    event = exception_event(platform=platform)
    event["exception"]["values"][-1]["value"] = "connect ECONNREFUSED 127.0.0.1:5432"
    response = send(client, service, envelope(("event", event)), auth=auth_header)
    assert response.status_code == 200, response.content
    entry = ErrorLogEntry.objects.get()
    assert entry.code != "ECONNREFUSED"
    assert entry.extra.get("platform") == platform
