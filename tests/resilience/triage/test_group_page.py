"""The group page's triage buttons: each a POST through the triage service, audited with
its actor, refused (and not shown) without the triage permission."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from resilience.models import ErrorGroup, GroupHistory
from tests.factories import ErrorGroupFactory, ErrorLogEntryFactory

pytestmark = pytest.mark.django_db

Status = ErrorGroup.Status
Action = GroupHistory.Action


def change_url(group: ErrorGroup) -> str:
    return reverse("admin:resilience_errorgroup_change", args=[group.pk])


def triage_url(group: ErrorGroup) -> str:
    return reverse("admin:resilience_errorgroup_triage", args=[group.pk])


def press(client, group: ErrorGroup, button: str, **fields):
    return client.post(triage_url(group), {"_triage": button, **fields})


@pytest.mark.parametrize(
    ("button", "start", "status", "action"),
    [
        ("resolve", Status.OPEN, Status.RESOLVED, Action.RESOLVED),
        ("resolve_next_release", Status.OPEN, Status.RESOLVED, Action.RESOLVED),
        ("reopen", Status.RESOLVED, Status.OPEN, Action.REOPENED),
        ("mute_1h", Status.OPEN, Status.MUTED, Action.MUTED),
        ("mute_24h", Status.OPEN, Status.MUTED, Action.MUTED),
        ("mute_7d", Status.OPEN, Status.MUTED, Action.MUTED),
        ("mute_until_resolved", Status.OPEN, Status.MUTED, Action.MUTED),
    ],
)
def test_each_status_button_acts_and_leaves_history_with_its_actor(
    client, triager, button, start, status, action
):
    group = ErrorGroupFactory(status=start)
    client.force_login(triager)

    response = press(client, group, button)

    assert response.status_code == 302
    assert response["Location"] == change_url(group)
    group.refresh_from_db()
    assert group.status == status
    row = group.history.get()
    assert (row.action, row.actor, row.via) == (action, triager, "admin")
    assert LogEntry.objects.get(object_id=str(group.pk)).user == triager


def test_mute_for_seven_days_ends_in_seven_days(client, triager):
    group = ErrorGroupFactory()
    client.force_login(triager)
    press(client, group, "mute_7d")
    group.refresh_from_db()
    assert abs(group.muted_until - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)


def test_resolve_in_next_release_stores_the_latest_events_release(client, triager):
    group = ErrorGroupFactory()
    ErrorLogEntryFactory(group=group, service=group.service, release="1.4.1")
    ErrorLogEntryFactory(group=group, service=group.service, release="1.4.2")
    client.force_login(triager)
    press(client, group, "resolve_next_release")
    group.refresh_from_db()
    assert group.resolved_in_release == "1.4.2"
    assert group.history.get().detail == "in the release after 1.4.2"
    page = client.get(change_url(group)).content.decode()
    assert "until an event from a release other than 1.4.2" in page


def test_mute_for_n_more_events(client, triager):
    group = ErrorGroupFactory(times_seen=40)
    client.force_login(triager)
    press(client, group, "mute_events", mute_events="10")
    group.refresh_from_db()
    assert (group.status, group.muted_until, group.muted_until_times_seen) == (
        Status.MUTED, None, 50)
    row = group.history.get()
    assert (row.actor, row.detail) == (triager, "for 10 more events")
    assert "for 10 more events" in client.get(change_url(group)).content.decode()


@pytest.mark.parametrize("count", ["", "0", "-3", "many", "1000001"])
def test_mute_for_a_bad_number_of_events_changes_nothing(client, triager, count):
    group = ErrorGroupFactory()
    client.force_login(triager)
    response = press(client, group, "mute_events", mute_events=count)
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.status == Status.OPEN
    assert not group.history.exists()
    page = client.get(change_url(group)).content.decode()
    assert "Mute for a whole number of events" in page


def test_assign_to_a_user_and_to_me_and_to_nobody(client, triager, viewer):
    group = ErrorGroupFactory()
    client.force_login(triager)

    press(client, group, "assign", assignee=str(viewer.pk))
    group.refresh_from_db()
    assert group.assignee == viewer
    press(client, group, "assign_me")
    group.refresh_from_db()
    assert group.assignee == triager
    press(client, group, "assign", assignee="")
    group.refresh_from_db()
    assert group.assignee is None

    rows = list(group.history.order_by("id").values_list("action", "actor", "detail"))
    assert rows == [
        (Action.ASSIGNED, triager.pk, "to viewer"),
        (Action.ASSIGNED, triager.pk, "to triager"),
        (Action.UNASSIGNED, triager.pk, ""),
    ]


def test_assigning_to_someone_not_staff_is_refused(client, triager, django_user_model):
    outsider = django_user_model.objects.create_user("outsider", is_staff=False)
    group = ErrorGroupFactory()
    client.force_login(triager)
    press(client, group, "assign", assignee=str(outsider.pk))
    group.refresh_from_db()
    assert group.assignee is None
    assert not group.history.exists()


def test_an_unknown_button_changes_nothing(client, triager):
    group = ErrorGroupFactory()
    client.force_login(triager)
    press(client, group, "delete")
    assert not group.history.exists()


@pytest.mark.parametrize("button", ["resolve", "reopen", "mute_1h", "mute_events", "assign_me"])
def test_a_viewer_pressing_a_button_gets_403_and_changes_nothing(client, viewer, button):
    group = ErrorGroupFactory(status=Status.RESOLVED if button == "reopen" else Status.OPEN)
    client.force_login(viewer)
    response = press(client, group, button, mute_events="5")
    assert response.status_code == 403
    assert not group.history.exists()
    assert not LogEntry.objects.exists()


def test_a_viewer_sees_no_triage_buttons(client, viewer):
    group = ErrorGroupFactory()
    client.force_login(viewer)
    page = client.get(change_url(group)).content.decode()
    assert 'id="triage-panel"' in page
    assert 'name="_triage"' not in page
    assert triage_url(group) not in page


def test_a_triager_sees_the_buttons_for_the_groups_state(client, triager):
    group = ErrorGroupFactory(status=Status.OPEN)
    client.force_login(triager)
    page = client.get(change_url(group)).content.decode()
    for value in ("resolve", "resolve_next_release", "mute_1h", "mute_24h", "mute_7d",
                  "mute_until_resolved", "mute_events", "assign", "assign_me"):
        assert f'name="_triage" value="{value}"' in page
    assert 'value="reopen"' not in page
    assert 'name="csrfmiddlewaretoken"' in page

    group.status = Status.RESOLVED
    group.save()
    page = client.get(change_url(group)).content.decode()
    assert 'value="reopen"' in page
    assert 'value="resolve"' not in page


def test_the_triage_view_answers_only_posts(client, triager):
    group = ErrorGroupFactory()
    client.force_login(triager)
    assert client.get(triage_url(group)).status_code == 405


def test_the_triage_view_checks_csrf(triager):
    from django.test import Client

    group = ErrorGroupFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(triager)
    assert client.post(triage_url(group), {"_triage": "resolve"}).status_code == 403
    group.refresh_from_db()
    assert group.status == Status.OPEN


def test_a_missing_group_is_404(client, triager):
    client.force_login(triager)
    url = reverse("admin:resilience_errorgroup_triage", args=[999999])
    assert client.post(url, {"_triage": "resolve"}).status_code == 404
