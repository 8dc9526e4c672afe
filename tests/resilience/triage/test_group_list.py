"""The group list: opens on unresolved groups newest first, "All" shows every status,
search by event id, coloured badges."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from resilience.models import ErrorGroup
from tests.factories import ErrorGroupFactory, ErrorLogEntryFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:resilience_errorgroup_changelist")
Status = ErrorGroup.Status


def listed(client, query: str = "") -> list[ErrorGroup]:
    response = client.get(f"{CHANGELIST}{query}")
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.fixture
def one_of_each():
    now = timezone.now()
    return {
        status: ErrorGroupFactory(status=status, last_seen=now - timedelta(minutes=n))
        for n, status in enumerate([Status.OPEN, Status.MUTED, Status.RESOLVED])
    }


def test_the_list_opens_on_unresolved_groups_newest_activity_first(client, viewer):
    old = ErrorGroupFactory(last_seen=timezone.now() - timedelta(days=2))
    new = ErrorGroupFactory()
    ErrorGroupFactory(status=Status.RESOLVED)
    ErrorGroupFactory(status=Status.MUTED)
    client.force_login(viewer)
    assert listed(client) == [new, old]


def test_all_shows_every_status_and_each_status_its_own(client, viewer, one_of_each):
    client.force_login(viewer)
    assert len(listed(client, "?status__exact=all")) == 3
    for status, group in one_of_each.items():
        assert listed(client, f"?status__exact={status}") == [group]


def test_the_status_filter_offers_unresolved_and_all(client, viewer):
    client.force_login(viewer)
    content = client.get(CHANGELIST).content.decode()
    assert re.search(r'<li class="selected">\s*<a href="\?">Unresolved</a>', content)
    assert 'href="?status__exact=all"' in content
    assert 'href="?status__exact=RESOLVED"' in content
    content = client.get(f"{CHANGELIST}?status__exact=all").content.decode()
    assert re.search(r'<li class="selected">\s*<a href="\?status__exact=all">All</a>', content)


def test_a_search_by_event_id_finds_its_group_whatever_its_status(client, viewer):
    resolved = ErrorGroupFactory(status=Status.RESOLVED)
    entry = ErrorLogEntryFactory(group=resolved, service=resolved.service)
    ErrorLogEntryFactory(group=ErrorGroupFactory(), message=entry.event_id[:8])
    client.force_login(viewer)
    assert listed(client, f"?q={entry.event_id}") == [resolved]
    assert listed(client, f"?q={entry.event_id.upper()}") == []  # ids are stored as sent


@pytest.mark.parametrize(("field", "value"), [("title", "Ledger timeout after 5s"),
                                              ("code", "E_LEDGER"),
                                              ("operation", "ledger.post")])
def test_search_by_title_code_and_operation(client, viewer, field, value):
    wanted = ErrorGroupFactory(**{field: value})
    ErrorGroupFactory()
    client.force_login(viewer)
    assert listed(client, f"?q={value.split()[0]}") == [wanted]


def test_severity_and_status_are_coloured_badges(client, viewer):
    ErrorGroupFactory(severity="CRITICAL", title="x" * 250)
    client.force_login(viewer)
    content = client.get(CHANGELIST).content.decode()
    assert 'class="fl-badge fl-badge-critical"' in content
    assert 'class="fl-badge fl-badge-open"' in content
    # A long title is cut by CSS on one line, whole on hover.
    assert f'title="{"x" * 250}"' in content and "text-overflow:ellipsis" in content


def test_the_key_columns_are_listed(client, viewer, triager):
    ErrorGroupFactory(assignee=triager, times_seen=1234)
    client.force_login(viewer)
    content = client.get(CHANGELIST).content.decode()
    for column in ("title_cell", "severity_badge", "status_badge", "times_seen", "last_seen",
                   "assignee"):
        assert f'class="field-{column}' in content or f"column-{column}" in content
