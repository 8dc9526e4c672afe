"""The dead-letter API for operators: list, read, replay (one, or by filter), edit and
replay, discard, purge; each with its permission."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from resilience.models import AuditEvent, DeadLetter
from tests.factories import (
    DeadLetterFactory,
    ReplayTargetFactory,
    ServiceFactory,
    operator_token,
)

Status = DeadLetter.Status
URL = "/api/v1/dead-letters/"


def token_client(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {operator_token(user)}")


def post(client, url, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", password="pw-root")


def test_a_service_lists_only_its_own_dead_letters(service_client, service):
    mine = DeadLetterFactory(service=service)
    DeadLetterFactory(service=ServiceFactory())
    body = service_client.get(URL).json()
    assert [d["id"] for d in body["results"]] == [mine.pk]
    assert service_client.get(f"{URL}{mine.pk + 1}/").status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=FAILED", ["b"]),
        ("operation=event.publish", ["c"]),
        ("category=TRANSIENT", ["c"]),
        ("reason_contains=DUPLICATE", ["a", "b"]),
        ("service=other", ["d"]),
        ("range=1h", ["a", "b", "c"]),
    ],
)
def test_operators_filter_the_list(viewer, service, query, expected):
    a = DeadLetterFactory(service=service, reason="IntegrityError: duplicate key")
    b = DeadLetterFactory(service=service, status=Status.FAILED, reason="duplicate again")
    c = DeadLetterFactory(service=service, operation="event.publish", category="TRANSIENT",
                          reason="TimeoutError")
    d = DeadLetterFactory(service=ServiceFactory(name="other"), reason="ValueError",
                          created_at=timezone.now() - timedelta(hours=3))
    names = {a.pk: "a", b.pk: "b", c.pk: "c", d.pk: "d"}
    response = token_client(viewer).get(f"{URL}?{query}")
    assert response.status_code == 200, response.content
    assert sorted(names[row["id"]] for row in response.json()["results"]) == expected


def test_a_bad_filter_is_a_400_naming_it(viewer):
    response = token_client(viewer).get(f"{URL}?status=LOST")
    assert response.status_code == 400
    assert response.json()["field"] == "status"


def test_the_list_pages_by_cursor(viewer, service):
    for _ in range(5):
        DeadLetterFactory(service=service)
    client = token_client(viewer)
    first = client.get(f"{URL}?limit=3").json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == 3 and len(second["results"]) == 2
    assert "count" not in first


def test_the_detail_shows_the_attempts(viewer, service):
    letter = DeadLetterFactory(service=service)
    letter.attempts.create(outcome="FAILED", response_status=500, error="HTTP 500")
    body = token_client(viewer).get(f"{URL}{letter.pk}/").json()
    assert body["payload"] == letter.payload
    assert [(a["outcome"], a["response_status"]) for a in body["attempts"]] == [("FAILED", 500)]


def test_a_triager_queues_a_replay_and_it_runs(triager, service, receiver, replay_queue,
                                               django_capture_on_commit_callbacks):
    ReplayTargetFactory(service=service, url=receiver.url)
    letter = DeadLetterFactory(service=service)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(token_client(triager), f"{URL}{letter.pk}/replay/")
    assert response.status_code == 202, response.content
    assert response.json() == {"matched": 1, "queued": 1, "without_target": 0}
    replay_queue.run()
    letter.refresh_from_db()
    assert letter.status == Status.REPLAYED
    attempt = letter.attempts.get()
    assert (attempt.actor, attempt.via) == (triager, "api")
    assert len(receiver.received) == 1


@pytest.mark.parametrize(
    ("state", "body", "words"),
    [
        ({"status": Status.DISCARDED}, {}, "discarded"),
        ({"status": Status.REPLAYED}, {}, "already replayed"),
        ({"status": Status.REPLAYING, "last_replay_at": timezone.now}, {}, "in progress"),
    ],
)
def test_a_replay_the_state_forbids_is_a_409(triager, service, state, body, words):
    ReplayTargetFactory(service=service)
    state = {k: v() if callable(v) else v for k, v in state.items()}
    letter = DeadLetterFactory(service=service, **state)
    response = post(token_client(triager), f"{URL}{letter.pk}/replay/", body)
    assert response.status_code == 409
    assert words in response.json()["message"]


def test_a_replay_without_a_target_is_a_409_that_says_so(triager, service):
    letter = DeadLetterFactory(service=service)
    response = post(token_client(triager), f"{URL}{letter.pk}/replay/")
    assert response.status_code == 409
    assert "no enabled replay target" in response.json()["message"]
    assert not AuditEvent.objects.exists()


def test_a_replayed_letter_is_replayed_again_when_forced(triager, service, replay_queue,
                                                         django_capture_on_commit_callbacks):
    ReplayTargetFactory(service=service)
    letter = DeadLetterFactory(service=service, status=Status.REPLAYED)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(token_client(triager), f"{URL}{letter.pk}/replay/", {"force": True})
    assert response.status_code == 202
    assert replay_queue[0]["force"] is True


def test_replay_by_filter_queues_what_matches(triager, service, replay_queue,
                                              django_capture_on_commit_callbacks):
    ReplayTargetFactory(service=service)
    DeadLetterFactory(service=service, reason="IntegrityError: dup")
    DeadLetterFactory(service=service, reason="IntegrityError: dup", status=Status.FAILED)
    DeadLetterFactory(service=service, reason="IntegrityError: dup", status=Status.DISCARDED)
    DeadLetterFactory(service=service, reason="Timeout")
    DeadLetterFactory(service=service, reason="IntegrityError: dup", operation="no.target")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(token_client(triager), f"{URL}replay/",
                        {"reason_contains": "integrityerror", "service": service.slug})
    assert response.status_code == 202, response.content
    assert response.json() == {"matched": 3, "queued": 2, "without_target": 1}
    assert replay_queue[0]["filters"] == {"reason_contains": "integrityerror",
                                          "service": service.slug}
    event = AuditEvent.objects.get()
    assert (event.action, event.via, event.actor) == ("dead_letter.replay", "api", triager)


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, None), ({"force": True}, None), ({"status": "DISCARDED"}, "status"),
     ({"category": "NOPE"}, "category")],
)
def test_replay_by_filter_refuses_an_empty_or_bad_filter(triager, body, field):
    response = post(token_client(triager), f"{URL}replay/", body)
    assert response.status_code == 400
    assert response.json().get("field") == field


def test_everything_is_replayed_only_when_asked_explicitly(triager, replay_queue,
                                                           django_capture_on_commit_callbacks):
    letter = DeadLetterFactory()
    ReplayTargetFactory(service=letter.service)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(token_client(triager), f"{URL}replay/", {"all": True})
    assert response.json()["queued"] == 1


def test_edit_and_replay_by_api(triager, service, replay_queue,
                                django_capture_on_commit_callbacks):
    ReplayTargetFactory(service=service)
    letter = DeadLetterFactory(service=service, payload={"qty": -1})
    with django_capture_on_commit_callbacks(execute=True):
        response = post(token_client(triager), f"{URL}{letter.pk}/edit-and-replay/",
                        {"payload": {"qty": 1}})
    assert response.status_code == 202, response.content
    assert (response.json()["payload"], response.json()["edited_payload"]) == (
        {"qty": -1}, {"qty": 1})
    assert len(replay_queue) == 1
    assert [e.action for e in AuditEvent.objects.order_by("id")] == [
        "dead_letter.edit", "dead_letter.replay"]


def test_edit_and_replay_needs_a_payload(triager):
    letter = DeadLetterFactory()
    response = post(token_client(triager), f"{URL}{letter.pk}/edit-and-replay/", {})
    assert (response.status_code, response.json()["field"]) == (400, "payload")


def test_discard_by_api(triager):
    letter = DeadLetterFactory()
    response = post(token_client(triager), f"{URL}{letter.pk}/discard/")
    assert response.status_code == 200
    assert response.json()["status"] == "DISCARDED"
    assert response.json()["discarded_by"] == "triager"
    assert post(token_client(triager), f"{URL}{letter.pk}/discard/").status_code == 409


def test_purge_by_api_needs_the_purge_permission(triager, superuser):
    letter = DeadLetterFactory(status=Status.DISCARDED, discarded_at=timezone.now())
    assert post(token_client(triager), f"{URL}purge/", {"ids": [letter.pk]}).status_code == 403
    response = post(token_client(superuser), f"{URL}purge/", {"ids": [letter.pk]})
    assert response.json() == {"count": 1, "ids": [letter.pk]}
    assert not DeadLetter.objects.exists()
    assert post(token_client(superuser), f"{URL}purge/", {}).status_code == 400


@pytest.mark.parametrize("action", ["replay/", "discard/", "edit-and-replay/"])
def test_viewers_and_services_cannot_act(viewer, service_client, action):
    letter = DeadLetterFactory()
    url = f"{URL}{letter.pk}/{action}"
    assert post(token_client(viewer), url, {"payload": 1}).status_code == 403
    assert post(service_client, url, {"payload": 1}).status_code in (401, 403)
    assert post(Client(), url, {"payload": 1}).status_code in (401, 403)
    letter.refresh_from_db()
    assert letter.status == Status.PENDING and letter.edited_payload is None


def test_an_edit_without_a_target_is_kept_and_the_409_says_so(triager):
    letter = DeadLetterFactory(payload={"qty": -1})
    response = post(token_client(triager), f"{URL}{letter.pk}/edit-and-replay/",
                    {"payload": {"qty": 1}})
    assert response.status_code == 409
    assert response.json()["message"].startswith("The edit is saved, but not replayed")
    letter.refresh_from_db()
    assert letter.edited_payload == {"qty": 1}
