"""What the group page shows above the form: the latest event's trace (in-app frames
first), the link to all its events, where it was seen, the top tag values of its recent
events; and the event page's way to the group's other events."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from resilience.models import ErrorGroup, ErrorLogEntry, GroupEnvironment, GroupRelease
from tests.factories import ErrorGroupFactory, ErrorLogEntryFactory

pytestmark = pytest.mark.django_db

ENTRIES = reverse("admin:resilience_errorlogentry_changelist")


def change_url(group: ErrorGroup) -> str:
    return reverse("admin:resilience_errorgroup_change", args=[group.pk])


def entry_url(entry: ErrorLogEntry) -> str:
    return reverse("admin:resilience_errorlogentry_change", args=[entry.pk])


def event(group: ErrorGroup, **fields) -> ErrorLogEntry:
    return ErrorLogEntryFactory(group=group, service=group.service, **fields)


FRAMES = [  # oldest call first, as Sentry and Python tracebacks list them
    {"module": "django.core.handlers", "function": "inner", "filename": "base.py",
     "in_app": False},
    {"module": "shop.orders", "function": "create_order", "filename": "orders.py",
     "in_app": True},
    {"module": "requests.adapters", "function": "send", "filename": "adapters.py",
     "in_app": False},
    {"module": "shop.payments", "function": "charge", "filename": "payments.py",
     "in_app": True},
]


def test_the_latest_trace_is_at_the_top_with_in_app_frames_first(client, viewer):
    group = ErrorGroupFactory()
    event(group, message="the older one")
    event(group, message="card declined", extra={"frames": FRAMES})
    client.force_login(viewer)

    page = client.get(change_url(group)).content.decode()

    panel = page[page.index('id="latest-event"'):page.index('id="content-main"')]
    assert "card declined" in panel
    order = [name for name in re.findall(r"<code>(\w+)</code>", panel)]
    # Most recent call first, the application's own frames before the libraries'.
    assert order == ["charge", "create_order", "send", "inner"]
    assert "2 library frames" in panel


def test_a_text_trace_is_parsed_into_frames(client, viewer):
    group = ErrorGroupFactory()
    event(group, stack_trace=(
        "Traceback (most recent call last):\n"
        '  File "/srv/app/orders/views.py", line 10, in create_order\n'
        '  File "/usr/lib/python3.11/site-packages/requests/api.py", line 3, in post\n'
        "ConnectionError: refused\n"
    ))
    client.force_login(viewer)
    page = client.get(change_url(group)).content.decode()
    panel = page[page.index('id="latest-event"'):page.index('id="content-main"')]
    assert "<code>create_order</code>" in panel


def test_all_events_link_lists_exactly_the_groups_events(client, viewer):
    group = ErrorGroupFactory(times_seen=2)
    mine = [event(group), event(group)]
    ErrorLogEntryFactory(group=ErrorGroupFactory())
    client.force_login(viewer)

    page = client.get(change_url(group)).content.decode()
    link = f"{ENTRIES}?group={group.pk}"
    assert f'href="{link}" id="group-all-events">All 2 events</a>' in page

    listed = client.get(link).context["cl"].result_list
    assert sorted(e.pk for e in listed) == sorted(e.pk for e in mine)


@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
def test_the_group_filter_ignores_a_malformed_id(client, viewer, value):
    ErrorLogEntryFactory()
    client.force_login(viewer)
    response = client.get(f"{ENTRIES}?group={value}")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_the_event_page_links_to_older_and_newer_events_of_its_group(client, viewer):
    group = ErrorGroupFactory()
    first, middle, last = event(group), event(group), event(group)
    ErrorLogEntryFactory(group=ErrorGroupFactory())  # another group's, in between ids
    client.force_login(viewer)

    page = client.get(entry_url(middle)).content.decode()
    assert f'href="{entry_url(first)}" id="event-older"' in page
    assert f'href="{entry_url(last)}" id="event-newer"' in page
    assert f"{ENTRIES}?group={group.pk}" in page
    assert change_url(group) in page

    page = client.get(entry_url(last)).content.decode()
    assert 'id="event-newer"' not in page and "No newer event" in page


def test_an_ungrouped_event_page_has_no_group_navigation(client, viewer):
    entry = ErrorLogEntryFactory()
    client.force_login(viewer)
    page = client.get(entry_url(entry)).content.decode()
    assert 'id="event-navigation"' not in page


def seen_in(group: ErrorGroup, model, name: str, last_seen) -> None:
    model.objects.create(group=group, name=name, first_seen=last_seen, last_seen=last_seen)


def test_where_the_group_was_seen_and_its_top_tag_values(client, viewer):
    group = ErrorGroupFactory(first_release="1.2", last_release="1.3")
    now = timezone.now()
    seen_in(group, GroupEnvironment, "staging", now - timedelta(days=40))  # no entry left
    seen_in(group, GroupEnvironment, "production", now)
    seen_in(group, GroupRelease, "1.2", now - timedelta(hours=1))
    seen_in(group, GroupRelease, "1.3", now)
    for region in ("eu", "eu", "us"):
        event(group, extra={"tags": {"region": region}})
    client.force_login(viewer)

    page = client.get(change_url(group)).content.decode()

    seen = page[page.index('id="group-seen-in"'):page.index('id="group-facets"')]
    environments = seen[seen.index('id="seen-environments"'):seen.index('id="seen-releases"')]
    assert environments.index("<td>production</td>") < environments.index("<td>staging</td>")
    assert "<td>1.3</td>" in seen and "<td>1.2</td>" in seen
    assert "First release: <span id=\"group-first-release\">1.2</span>" in seen
    facets = page[page.index('id="group-facets"'):page.index('id="content-main"')]
    assert "From the latest 3 events (at most 1000 are read)" in facets
    assert "<th colspan=\"2\">region</th>" in facets
    assert "<td>eu</td><td>2</td>" in facets


def test_top_tag_values_read_a_bounded_number_of_events(viewer):
    from resilience.groups.facets import group_facets

    group = ErrorGroupFactory()
    for n in range(5):
        event(group, extra={"tags": {"n": str(n)}})
    facets = group_facets(group=group, sample=2)
    assert facets.sampled == 2
    [(key, counts)] = facets.tags
    assert key == "n"
    assert {value for value, _ in counts} == {"4", "3"}


def test_the_page_escapes_reporter_data_in_the_panel(client, viewer):
    group = ErrorGroupFactory()
    seen_in(group, GroupRelease, "<b>r</b>", timezone.now())
    event(group, message="<script>alert(1)</script>", release="<b>r</b>",
          extra={"tags": {"<i>k</i>": "<img src=x>"},
                 "frames": [{"function": "<svg onload=x>", "in_app": True}]})
    client.force_login(viewer)
    page = client.get(change_url(group)).content.decode()
    for raw in ("<script>alert(1)", "<b>r</b>", "<i>k</i>", "<img src=x>", "<svg onload"):
        assert raw not in page
