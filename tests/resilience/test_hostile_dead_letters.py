"""The dead-letter API and admin with hostile input, on PostgreSQL: payloads and headers are
replayed as they are, so what PostgreSQL cannot hold is refused with a 400 naming it."""

import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from resilience.models import DeadLetter
from tests.factories import DeadLetterFactory, ReplayTargetFactory, operator_token
from tests.resilience.hostile import refused

URL = "/api/v1/dead-letters/"
pytestmark = pytest.mark.usefixtures("postgres")


def post(client, url, body):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json")


@pytest.mark.parametrize("body, field, words", [
    ({"operation": "op", "payload": {"order": "a\u0000"}}, "payload",
     "contains a NUL character (\\u0000), which cannot be stored (at order)"),
    ({"operation": "op", "payload": {"k\ud800": 1}}, "payload", "lone surrogate"),
    ({"operation": "op", "headers": {"X-Trace": "a\u0000"}}, "headers",
     "value of 'X-Trace' contains a NUL character"),
    ({"operation": "op", "headers": {"X-\u0000": "a"}}, "headers", "the name 'X-\\x00'"),
    ({"operation": "op\u0000"}, "operation", "Null characters are not allowed"),
    ({"operation": "op", "reason": "why\u0000"}, "reason", "Null characters are not allowed"),
    ({"operation": "op", "first_failed_at": "0001-01-01T00:00:00+14:00"}, "first_failed_at",
     "Datetime value out of range"),
    ({"operation": "op", "last_failed_at": "2000-01-01T04:00:00+05:00"}, "last_failed_at",
     "is before 2000-01-01T00:00:00Z"),
    ({"operation": "op", "attempt_count": 10**40}, "attempt_count",
     "less than or equal to 1000000"),
])
def test_what_postgresql_cannot_hold_is_a_400_naming_the_field(service_client, body, field,
                                                               words):
    refused(post(service_client, URL, body), field, words)
    assert DeadLetter.objects.count() == 0


@pytest.mark.parametrize("body, words", [
    (b'{"operation": "op", "payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "is nested more than 64 levels deep"),
    (b'{"operation": "op", "payload": {"n": NaN}}', "has NaN"),
    (b'{"operation": "op", "payload": ' + b"7" * 4301 + b"}", "more than 64 digits"),
])
def test_bodies_python_json_chokes_on_are_a_400(service_client, body, words):
    refused(post(service_client, URL, body), None, words)


def test_a_time_with_an_offset_postgresql_refuses_is_kept_in_utc(service_client):
    response = post(service_client, URL, {"operation": "op", "payload": {"a": 1},
                                          "first_failed_at": "2020-01-01T00:00:00-16:52"})
    assert response.status_code == 201, response.content
    letter = DeadLetter.objects.get(pk=response.json()["id"])
    assert letter.first_failed_at == datetime(2020, 1, 1, 16, 52, tzinfo=UTC)


def test_the_list_filters_take_any_offset_and_refuse_nul(service_client, service):
    DeadLetterFactory(service=service)
    # The request: a 500 before.
    assert service_client.get(f"{URL}?until=2020-01-01T00:00:00-16:52").json()["results"] == []
    assert len(service_client.get(f"{URL}?since=2020-01-01T00:00:00-16:52").json()
               ["results"]) == 1
    refused(service_client.get(f"{URL}?since=0001-01-01T00:00:00%2B14:00"), "since",
            "is out of range")
    refused(service_client.get(f"{URL}?reason_contains=%00"), "reason_contains", "NUL")


def test_operator_bodies_go_through_the_same_reader(triager, service):
    letter = DeadLetterFactory(service=service)
    ReplayTargetFactory(service=service)
    client = Client(HTTP_AUTHORIZATION=f"Token {operator_token(triager)}")
    edit = f"{URL}{letter.pk}/edit-and-replay/"
    refused(post(client, edit, {"payload": {"qty": "1\u0000"}}), "payload.qty", "NUL character")
    refused(post(client, edit, b'{"payload": ' + b"{" * 100_000), None, "nested more than 64")
    refused(post(client, edit, b'{"payload": Infinity}'), None, "has Infinity")
    refused(post(client, f"{URL}replay/", {"reason_contains": "\u0000"}), "reason_contains",
            "NUL character")
    letter.refresh_from_db()
    assert letter.edited_payload is None


def test_purge_refuses_numbers_past_what_it_can_hold(triager):
    root = User.objects.create_superuser("root", password="pw-root")
    client = Client(HTTP_AUTHORIZATION=f"Token {operator_token(root)}")
    refused(post(client, f"{URL}purge/", {"older_than_days": 10**12}), "older_than_days",
            "less than or equal to 36500")
    refused(post(client, f"{URL}purge/", {"ids": [2**63]}), "ids.0", "less than or equal to")


def test_the_admin_edit_form_refuses_what_postgresql_cannot_hold(client, triager):
    letter = DeadLetterFactory(payload={"qty": -1})
    client.force_login(triager)
    url = reverse("admin:resilience_deadletter_edit_and_replay", args=[letter.pk])
    for text, words in [('{"qty": "\\u0000"}', "NUL character"),
                        ("[" * 10_000 + "]" * 10_000, "nested more than 64 levels deep"),
                        ('{"qty": NaN}', "has NaN")]:
        page = client.post(url, {"payload": text})
        assert page.status_code == 200
        assert words in page.content.decode(), text
    letter.refresh_from_db()
    assert letter.edited_payload is None
