"""The error group admin: triage actions, the readable change page, the filters."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from resilience.models import ErrorGroup, GroupHistory
from tests.factories import ErrorGroupFactory, ErrorLogEntryFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:resilience_errorgroup_changelist")
Status = ErrorGroup.Status
Action = GroupHistory.Action


def change_url(group: ErrorGroup) -> str:
    return reverse("admin:resilience_errorgroup_change", args=[group.pk])


def post_action(client, action: str, *groups: ErrorGroup):
    # An action applies to the selected groups the list shows: posted from "All" here,
    # since the list opens on the unresolved ones.
    data = {"action": action, "index": 0, "_selected_action": [g.pk for g in groups]}
    return client.post(f"{CHANGELIST}?status__exact=all", data, follow=True)


def save_change_form(client, group: ErrorGroup, **fields):
    """POST the change form, with the history inline's management form alongside."""
    rows = group.history.count()
    data = {"history-TOTAL_FORMS": rows, "history-INITIAL_FORMS": rows, **fields}
    return client.post(change_url(group), data)


def log_messages(group: ErrorGroup) -> list[str]:
    content_type = ContentType.objects.get_for_model(ErrorGroup)
    entries = LogEntry.objects.filter(content_type=content_type, object_id=str(group.pk))
    return [entry.change_message for entry in entries]


@pytest.mark.parametrize(
    ("action", "start", "status", "history", "logged"),
    [
        ("resolve", Status.OPEN, Status.RESOLVED, Action.RESOLVED, "Resolve"),
        ("reopen", Status.RESOLVED, Status.OPEN, Action.REOPENED, "Reopen"),
        ("mute_for_1_hour", Status.OPEN, Status.MUTED, Action.MUTED, "Mute for 1 hour"),
        ("mute_for_24_hours", Status.OPEN, Status.MUTED, Action.MUTED, "Mute for 24 hours"),
        ("mute_until_resolved", Status.OPEN, Status.MUTED, Action.MUTED, "Mute until resolved"),
    ],
)
def test_a_triager_changes_status_with_history_and_a_log_entry(
    client, triager, action, start, status, history, logged
):
    group = ErrorGroupFactory(status=start)
    client.force_login(triager)

    response = post_action(client, action, group)

    assert response.status_code == 200
    group.refresh_from_db()
    assert group.status == status
    row = group.history.get()
    assert (row.action, row.actor, row.via) == (history, triager, "admin")
    assert any(logged in message for message in log_messages(group))
    assert LogEntry.objects.get(object_id=str(group.pk)).user == triager


def test_resolve_records_who_and_when(client, triager):
    group = ErrorGroupFactory()
    client.force_login(triager)
    post_action(client, "resolve", group)
    group.refresh_from_db()
    assert group.resolved_by == triager
    assert group.resolved_at is not None


@pytest.mark.parametrize(("action", "hours"), [("mute_for_1_hour", 1), ("mute_for_24_hours", 24)])
def test_timed_mutes_end_after_their_span(client, triager, action, hours):
    group = ErrorGroupFactory()
    client.force_login(triager)
    post_action(client, action, group)
    group.refresh_from_db()
    expected = timezone.now() + timedelta(hours=hours)
    assert abs(group.muted_until - expected) < timedelta(minutes=1)


def test_mute_until_resolved_has_no_end(client, triager):
    group = ErrorGroupFactory()
    client.force_login(triager)
    post_action(client, "mute_until_resolved", group)
    group.refresh_from_db()
    assert group.muted_until is None
    assert group.history.get().detail == "until resolved"


def test_assign_to_me(client, triager):
    group = ErrorGroupFactory()
    client.force_login(triager)
    post_action(client, "assign_to_me", group)
    group.refresh_from_db()
    assert group.assignee == triager
    row = group.history.get()
    assert (row.action, row.actor, row.detail) == (Action.ASSIGNED, triager, "to triager")
    assert any("Assign to me" in message for message in log_messages(group))


def test_an_action_on_groups_already_in_that_state_is_a_no_op(client, triager):
    group = ErrorGroupFactory(status=Status.OPEN)
    client.force_login(triager)
    response = post_action(client, "reopen", group)
    assert "already in that state" in response.content.decode()
    assert not group.history.exists()
    assert log_messages(group) == []


def test_an_action_applies_to_every_selected_group(client, triager):
    groups = ErrorGroupFactory.create_batch(3)
    client.force_login(triager)
    post_action(client, "resolve", *groups)
    assert ErrorGroup.objects.filter(status=Status.RESOLVED).count() == 3
    assert GroupHistory.objects.filter(action=Action.RESOLVED, actor=triager).count() == 3


def test_a_triager_is_offered_the_triage_actions(client, triager):
    ErrorGroupFactory()
    client.force_login(triager)
    content = client.get(CHANGELIST).content.decode()
    for action in ("resolve", "reopen", "mute_for_1_hour", "mute_until_resolved", "assign_to_me"):
        assert f'value="{action}"' in content
    assert 'value="delete_selected"' not in content


def test_a_viewer_sees_the_list_without_actions(client, viewer):
    group = ErrorGroupFactory(title="Timeout talking to ledger")
    client.force_login(viewer)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Timeout talking to ledger" in content
    assert 'name="action"' not in content
    assert change_url(group) in content


@pytest.mark.parametrize("action", ["resolve", "mute_for_1_hour", "assign_to_me"])
def test_a_viewer_posting_an_action_changes_nothing(client, viewer, action):
    group = ErrorGroupFactory()
    client.force_login(viewer)
    response = post_action(client, action, group)
    assert response.status_code in (200, 403)
    group.refresh_from_db()
    assert group.status == Status.OPEN
    assert group.assignee is None
    assert not group.history.exists()
    assert not LogEntry.objects.exists()


def test_a_viewer_sees_the_change_page_read_only_and_cannot_save(client, viewer, triager):
    group = ErrorGroupFactory()
    client.force_login(viewer)
    response = client.get(change_url(group))
    assert response.status_code == 200
    assert 'name="assignee"' not in response.content.decode()

    response = save_change_form(client, group, assignee=triager.pk)
    assert response.status_code == 403
    group.refresh_from_db()
    assert group.assignee is None


@pytest.mark.parametrize("user", ["viewer", "triager"])
def test_nobody_but_a_superuser_adds_or_deletes_groups(client, request, user):
    group = ErrorGroupFactory()
    client.force_login(request.getfixturevalue(user))
    assert client.get(reverse("admin:resilience_errorgroup_add")).status_code == 403
    delete_url = reverse("admin:resilience_errorgroup_delete", args=[group.pk])
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert ErrorGroup.objects.filter(pk=group.pk).exists()


def test_a_triager_edits_only_the_assignee_and_the_change_goes_through_the_service(
    client, triager, viewer
):
    group = ErrorGroupFactory(title="original")
    client.force_login(triager)
    page = client.get(change_url(group)).content.decode()
    assert 'name="assignee"' in page
    assert 'name="title"' not in page

    response = save_change_form(client, group, assignee=triager.pk, title="edited")

    assert response.status_code == 302
    group.refresh_from_db()
    assert (group.assignee, group.title) == (triager, "original")
    row = group.history.get()
    assert (row.action, row.actor) == (Action.ASSIGNED, triager)


def test_clearing_the_assignee_records_an_unassignment(client, triager):
    group = ErrorGroupFactory(assignee=triager)
    client.force_login(triager)
    save_change_form(client, group, assignee="")
    group.refresh_from_db()
    assert group.assignee is None
    assert group.history.get().action == Action.UNASSIGNED


def test_saving_without_changes_writes_no_history(client, triager):
    group = ErrorGroupFactory(assignee=triager)
    client.force_login(triager)
    save_change_form(client, group, assignee=triager.pk)
    assert not group.history.exists()


def test_the_change_page_shows_the_latest_occurrence_readably(client, viewer, triager):
    group = ErrorGroupFactory()
    ErrorLogEntryFactory(group=group, service=group.service, message="the older one")
    ErrorLogEntryFactory(
        group=group,
        service=group.service,
        message="upstream refused <b>us</b>",
        stack_trace='Traceback (most recent call last):\n  File "pay.py", line 3\nConnectionError',
        context={"campaign": "spring", "attempt": 2},
        payload={"order": {"id": 17}},
        extra={"tags": {"region": "eu-west"}, "user": {"id": "u-1"}},
    )
    GroupHistory.objects.create(group=group, action=Action.RESOLVED, actor=triager)
    client.force_login(viewer)

    content = client.get(change_url(group)).content.decode()

    assert "upstream refused &lt;b&gt;us&lt;/b&gt;" in content
    assert "File &quot;pay.py&quot;, line 3\nConnectionError</pre>" in content
    assert "{\n  &quot;attempt&quot;: 2,\n  &quot;campaign&quot;: &quot;spring&quot;\n}" in content
    assert "&quot;order&quot;: {\n    &quot;id&quot;: 17\n  }" in content
    assert "&quot;region&quot;: &quot;eu-west&quot;" in content
    # The recent occurrences link to the entries, the history shows who did what.
    for entry in group.entries.all():
        assert reverse("admin:resilience_errorlogentry_change", args=[entry.pk]) in content
    assert "the older one" in content
    assert "Resolved" in content and "triager" in content


def test_the_change_page_escapes_reporter_html(client, viewer):
    group = ErrorGroupFactory(title="<script>alert('title')</script>")
    ErrorLogEntryFactory(
        group=group,
        service=group.service,
        message="<script>alert('message')</script>",
        stack_trace="<script>alert('trace')</script>",
        context={"<script>": "</pre><script>alert('json')</script>"},
        extra={"tags": {"x": "<img src=x onerror=alert(1)>"}},
    )
    client.force_login(viewer)
    content = client.get(change_url(group)).content.decode()
    assert "<script>alert" not in content
    assert "<img src=x" not in content
    assert "&lt;script&gt;alert(&#x27;message&#x27;)&lt;/script&gt;" in content
    assert "&lt;/pre&gt;&lt;script&gt;" in content


def test_the_change_page_without_occurrences(client, viewer):
    group = ErrorGroupFactory()
    client.force_login(viewer)
    assert client.get(change_url(group)).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "status__exact=OPEN",
        "severity__exact=HIGH",
        "category__exact=EXTERNAL_DEPENDENCY",
        "service__id__exact={service}",
        "environment=production",
        "operation=payment.charge",
        "assignee__id__exact={user}",
        "assignee__isnull=True",
        "last_seen__gte=2000-01-01+00:00:00%2B00:00",
        "q=upstream",
        "q=ECONNREFUSED",
    ],
)
def test_the_changelist_renders_with_each_filter(client, viewer, service, query):
    group = ErrorGroupFactory(service=service, environment="production", assignee=viewer)
    ErrorGroupFactory(environment="staging", operation="timer.execute")
    client.force_login(viewer)
    response = client.get(f"{CHANGELIST}?{query.format(service=service.pk, user=viewer.pk)}")
    assert response.status_code == 200
    assert "?e=1" not in response.get("Location", "")
    assert response.context["cl"].result_count >= (0 if "isnull" in query else 1)
    if "isnull" not in query:
        assert group in response.context["cl"].result_list


def test_the_operation_filter_lists_distinct_values(client, viewer):
    ErrorGroupFactory(operation="timer.execute")
    ErrorGroupFactory(operation="timer.execute")
    ErrorGroupFactory(operation="campaign.update")
    client.force_login(viewer)
    content = client.get(CHANGELIST).content.decode()
    assert content.count("?operation=timer.execute") == 1
    assert "?operation=campaign.update" in content


def test_the_operation_filter_narrows_the_list(client, viewer):
    kept = ErrorGroupFactory(operation="timer.execute")
    ErrorGroupFactory(operation="campaign.update")
    client.force_login(viewer)
    response = client.get(f"{CHANGELIST}?operation=timer.execute")
    assert list(response.context["cl"].result_list) == [kept]


def test_the_list_is_newest_first(client, viewer):
    old = ErrorGroupFactory(last_seen=timezone.now() - timedelta(days=1))
    new = ErrorGroupFactory()
    client.force_login(viewer)
    response = client.get(CHANGELIST)
    assert list(response.context["cl"].result_list) == [new, old]


def test_the_history_is_registered_read_only(client, viewer, triager):
    group = ErrorGroupFactory()
    row = GroupHistory.objects.create(group=group, action=Action.MUTED, actor=triager)
    client.force_login(viewer)
    assert client.get(reverse("admin:resilience_grouphistory_changelist")).status_code == 200
    url = reverse("admin:resilience_grouphistory_change", args=[row.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"detail": "x"}).status_code == 403
