"""The dead-letter admin: grouped by cause, readable, and every action permission-checked
and audited (AuditEvent and the admin's LogEntry). Replay targets keep their secret."""

import json
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from resilience.models import AuditEvent, DeadLetter, ReplayTarget
from tests.factories import DeadLetterFactory, ReplayTargetFactory

pytestmark = pytest.mark.django_db
Status = DeadLetter.Status
CHANGELIST = reverse("admin:resilience_deadletter_changelist")


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", password="pw-root")


def action(client, name, *letters):
    data = {"action": name, "index": 0, "_selected_action": [d.pk for d in letters]}
    return client.post(CHANGELIST, data, follow=True)


def edit_url(letter):
    return reverse("admin:resilience_deadletter_edit_and_replay", args=[letter.pk])


def logged(letter, flag=CHANGE):
    return list(LogEntry.objects.filter(object_id=str(letter.pk), action_flag=flag)
                .values_list("change_message", flat=True))


def test_the_list_is_summarised_by_cause(client, viewer):
    for _ in range(3):
        DeadLetterFactory(reason="IntegrityError: dup")
    DeadLetterFactory(reason="IntegrityError: dup", status=Status.FAILED)
    DeadLetterFactory(operation="event.publish", reason="Timeout")
    client.force_login(viewer)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary[0] == {**summary[0], "operation": "database.write",
                          "reason": "IntegrityError: dup", "total": 4, "pending": 3,
                          "failed": 1}
    assert summary[1]["total"] == 1
    assert b"Replay group" not in response.content  # a viewer cannot replay


def test_the_summary_follows_the_filters(client, viewer):
    DeadLetterFactory(reason="A")
    DeadLetterFactory(reason="B", status=Status.FAILED)
    client.force_login(viewer)
    summary = client.get(CHANGELIST + "?status__exact=FAILED").context["summary"]
    assert [row["reason"] for row in summary] == ["B"]


def test_the_change_page_shows_both_payloads_escaped(client, viewer):
    letter = DeadLetterFactory(payload={"note": "<script>alert(1)</script>"},
                               edited_payload={"note": "fixed"})
    letter.attempts.create(outcome="FAILED", response_status=500, error="HTTP 500")
    client.force_login(viewer)
    page = client.get(reverse("admin:resilience_deadletter_change", args=[letter.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "fixed" in html and "HTTP 500" in html


def test_viewers_get_no_actions_and_no_edit_page(client, viewer):
    letter = DeadLetterFactory()
    client.force_login(viewer)
    assert client.get(CHANGELIST).context["action_form"] is None  # no action it may run
    action(client, "discard", letter)
    letter.refresh_from_db()
    assert letter.status == Status.PENDING
    assert client.get(edit_url(letter)).status_code == 403
    assert client.post(reverse("admin:resilience_deadletter_replay_group"),
                       {"operation": letter.operation, "reason": letter.reason}).status_code == 403


def test_a_triager_replays_a_selection(client, triager, replay_queue,
                                       django_capture_on_commit_callbacks):
    letter = DeadLetterFactory()
    ReplayTargetFactory(service=letter.service)
    client.force_login(triager)
    actions = dict(client.get(CHANGELIST).context["action_form"].fields["action"].choices)
    assert {"replay", "replay_force", "discard"} <= set(actions)
    assert "purge" not in actions
    with django_capture_on_commit_callbacks(execute=True):
        response = action(client, "replay", letter)
    assert "Replay queued for 1 dead letter" in response.content.decode()
    assert replay_queue[0]["filters"] == {"ids": [letter.pk]}
    assert replay_queue[0]["actor_id"] == triager.pk
    assert logged(letter) == ["Replay (queue) (admin action)"]
    assert AuditEvent.objects.get().action == "dead_letter.replay"


def test_a_replay_without_a_target_says_so(client, triager, replay_queue,
                                           django_capture_on_commit_callbacks):
    letter = DeadLetterFactory()
    client.force_login(triager)
    with django_capture_on_commit_callbacks(execute=True):
        response = action(client, "replay", letter)
    assert "no enabled replay target" in response.content.decode()
    assert replay_queue == []


def test_a_triager_replays_a_whole_group(client, triager, replay_queue,
                                         django_capture_on_commit_callbacks):
    group = [DeadLetterFactory(reason="IntegrityError: dup") for _ in range(3)]
    DeadLetterFactory(reason="other")
    ReplayTargetFactory(service=group[0].service)
    for letter in group[1:]:
        ReplayTargetFactory(service=letter.service)
    client.force_login(triager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:resilience_deadletter_replay_group"),
                    {"operation": "database.write", "reason": "IntegrityError: dup"})
    assert replay_queue[0]["filters"] == {"operation": "database.write",
                                          "reason": "IntegrityError: dup"}
    assert AuditEvent.objects.get().detail["queued"] == 3
    assert all(logged(letter) for letter in group)


def test_a_triager_discards_with_audit_and_log(client, triager):
    letter = DeadLetterFactory()
    client.force_login(triager)
    action(client, "discard", letter)
    letter.refresh_from_db()
    assert (letter.status, letter.discarded_by) == (Status.DISCARDED, triager)
    assert logged(letter) == ["Discarded (admin action)"]
    assert AuditEvent.objects.get().action == "dead_letter.discard"


def test_only_purgers_purge_and_the_purge_is_logged(client, triager, superuser):
    settled = DeadLetterFactory(status=Status.DISCARDED, discarded_at=timezone.now())
    pending = DeadLetterFactory()
    client.force_login(triager)
    action(client, "purge", settled)
    assert DeadLetter.objects.filter(pk=settled.pk).exists()

    client.force_login(superuser)
    response = action(client, "purge", settled, pending)
    assert "Purged 1 dead letter; 1 kept" in response.content.decode()
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [pending.pk]
    assert len(logged(settled, DELETION)) == 1
    event = AuditEvent.objects.get()
    assert (event.action, event.detail["ids"]) == ("dead_letter.purge", [settled.pk])


def test_purge_of_settled_rows_older_than_n_days(client, triager, superuser):
    old = DeadLetterFactory(status=Status.REPLAYED,
                            replayed_at=timezone.now() - timedelta(days=40))
    url = reverse("admin:resilience_deadletter_purge_settled")
    client.force_login(triager)
    assert client.post(url, {"older_than_days": 30}).status_code == 403
    client.force_login(superuser)
    client.post(url, {"older_than_days": 30})
    assert not DeadLetter.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.get().detail["count"] == 1


def test_edit_and_replay_page(client, triager, replay_queue, django_capture_on_commit_callbacks):
    letter = DeadLetterFactory(payload={"qty": -1})
    ReplayTargetFactory(service=letter.service)
    client.force_login(triager)
    page = client.get(edit_url(letter))
    assert page.status_code == 200
    assert json.loads(page.context["form"].initial["payload"]) == {"qty": -1}

    bad = client.post(edit_url(letter), {"payload": "{qty: 1"})
    assert "Not valid JSON" in bad.content.decode()
    letter.refresh_from_db()
    assert letter.edited_payload is None

    with django_capture_on_commit_callbacks(execute=True):
        client.post(edit_url(letter), {"payload": '{"qty": 1}'})
    letter.refresh_from_db()
    assert (letter.payload, letter.edited_payload, letter.edited_by) == (
        {"qty": -1}, {"qty": 1}, triager)
    assert [e.action for e in AuditEvent.objects.order_by("id")] == [
        "dead_letter.edit", "dead_letter.replay"]
    assert "Edited the payload (edit and replay)" in logged(letter)
    assert replay_queue[0]["force"] is True


def test_replay_target_secrets_are_write_only(client, superuser, service):
    client.force_login(superuser)
    add = reverse("admin:resilience_replaytarget_add")
    data = {"service": service.pk, "operation": "database.write", "kind": "WEBHOOK",
            "url": "https://hooks.example.com/replay", "secret": "s3cret-value",
            "task_name": "", "rate_per_second": 5, "max_replays": 3, "enabled": "on"}
    assert client.post(add, data).status_code == 302
    target = ReplayTarget.objects.get()
    assert target.secret == "s3cret-value"

    change = reverse("admin:resilience_replaytarget_change", args=[target.pk])
    assert "s3cret-value" not in client.get(change).content.decode()
    assert "s3cret-value" not in client.get(
        reverse("admin:resilience_replaytarget_changelist")).content.decode()
    client.post(change, {**data, "secret": "", "rate_per_second": 7})
    target.refresh_from_db()
    assert (target.secret, target.rate_per_second) == ("s3cret-value", 7)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"secret": ""}, "secret"), ({"url": ""}, "url"),
     ({"kind": "CELERY_TASK", "url": ""}, "task_name"),
     ({"rate_per_second": 0}, "rate_per_second")],
)
def test_replay_target_validation(client, superuser, service, change, field):
    client.force_login(superuser)
    data = {"service": service.pk, "operation": "op", "kind": "WEBHOOK",
            "url": "https://hooks.example.com/replay", "secret": "s", "task_name": "",
            "rate_per_second": 5, "max_replays": 3, "enabled": "on", **change}
    response = client.post(reverse("admin:resilience_replaytarget_add"), data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
