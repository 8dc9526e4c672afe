"""The error log entry admin: read-only, filterable, and never a full COUNT(*)."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from resilience.admin import paginators
from resilience.admin.paginators import EstimatedCountPaginator
from resilience.models import ErrorLogEntry
from tests.factories import ErrorGroupFactory, ErrorLogEntryFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:resilience_errorlogentry_changelist")
# A count over the whole entries table, as the stock admin paginator would run it.
FULL_COUNT = re.compile(r'SELECT COUNT\(\*\).*FROM "resilience_errorlogentry"', re.IGNORECASE)


def change_url(entry: ErrorLogEntry) -> str:
    return reverse("admin:resilience_errorlogentry_change", args=[entry.pk])


def full_counts(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if FULL_COUNT.search(q["sql"]) and "LIMIT" not in q["sql"]
    ]


@pytest.mark.parametrize("user", ["viewer", "triager"])
def test_entries_are_viewable_but_never_added_changed_or_deleted(client, request, user):
    entry = ErrorLogEntryFactory()
    client.force_login(request.getfixturevalue(user))
    assert client.get(CHANGELIST).status_code == 200
    assert client.get(change_url(entry)).status_code == 200
    assert client.get(reverse("admin:resilience_errorlogentry_add")).status_code == 403
    delete_url = reverse("admin:resilience_errorlogentry_delete", args=[entry.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert client.post(change_url(entry), {"message": "edited"}).status_code == 403
    entry.refresh_from_db()
    assert entry.message == "connection refused"


def test_not_even_a_superuser_edits_an_entry(admin_client):
    entry = ErrorLogEntryFactory()
    assert admin_client.get(reverse("admin:resilience_errorlogentry_add")).status_code == 403
    content = admin_client.get(change_url(entry)).content.decode()
    assert 'name="message"' not in content
    assert 'name="_save"' not in content


def test_the_list_shows_the_columns(client, viewer):
    group = ErrorGroupFactory(title="Ledger timeout")
    entry = ErrorLogEntryFactory(
        service=group.service, group=group, campaign_id="camp-42", digested_at=timezone.now()
    )
    client.force_login(viewer)
    content = client.get(CHANGELIST).content.decode()
    # Message, code and operation are the columns; the event id is on the timestamp's hover,
    # the service and group on the entry's page (and the filters).
    for text in (entry.event_id, "connection refused", "ECONNREFUSED", "payment.charge"):
        assert text in content
    page = client.get(change_url(entry)).content.decode()
    assert reverse("admin:resilience_errorgroup_change", args=[group.pk]) in page
    assert "Ledger timeout" in page and group.service.name in page
    # The campaign column joins the list while the campaign filter is in use.
    assert "field-campaign_id" not in content
    filtered = client.get(f"{CHANGELIST}?campaign_id=camp-42").content.decode()
    assert '<td class="field-campaign_id">camp-42</td>' in filtered


@pytest.mark.parametrize(
    "query",
    [
        "campaign_id=camp-42",
        "category__exact=EXTERNAL_DEPENDENCY",
        "severity__exact=HIGH",
        "service__id__exact={service}",
        "strategy__exact=RETRY",
        "range=15m",
        "range=1h",
        "range=24h",
        "range=7d",
        "range=30d",
        "q={event_id}",
        "q=refused",
        "q=ECONNREFUSED",
        "range=1h&campaign_id=camp-42&severity__exact=HIGH",
    ],
)
def test_the_changelist_renders_with_each_filter(client, viewer, service, query):
    entry = ErrorLogEntryFactory(service=service, campaign_id="camp-42")
    ErrorLogEntryFactory(
        campaign_id="other",
        category="TRANSIENT",
        severity="LOW",
        strategy="FALLBACK",
        code="E_OTHER",
        message="something else",
        timestamp=timezone.now() - timedelta(days=60),
    )
    client.force_login(viewer)
    response = client.get(
        f"{CHANGELIST}?{query.format(service=service.pk, event_id=entry.event_id)}"
    )
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [entry]


@pytest.mark.parametrize(
    ("span", "kept"), [("15m", 1), ("1h", 2), ("24h", 3), ("7d", 4), ("30d", 5)]
)
def test_the_time_range_filter(client, viewer, span, kept):
    now = timezone.now()
    for age in (
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=5),
        timedelta(days=3),
        timedelta(days=20),
        timedelta(days=60),
    ):
        ErrorLogEntryFactory(timestamp=now - age)
    client.force_login(viewer)
    response = client.get(f"{CHANGELIST}?range={span}")
    assert len(response.context["cl"].result_list) == kept


def test_the_campaign_filter_is_a_text_box_that_keeps_other_filters(client, viewer):
    client.force_login(viewer)
    content = client.get(f"{CHANGELIST}?severity__exact=HIGH&campaign_id=camp-7").content.decode()
    assert 'name="campaign_id" value="camp-7"' in content
    assert '<input type="hidden" name="severity__exact" value="HIGH">' in content


def test_the_list_is_newest_first(client, viewer):
    first, second = ErrorLogEntryFactory(), ErrorLogEntryFactory()
    client.force_login(viewer)
    assert list(client.get(CHANGELIST).context["cl"].result_list) == [second, first]


def test_the_change_page_shows_everything_readably_and_escaped(client, viewer):
    entry = ErrorLogEntryFactory(
        message="<script>alert('x')</script> refused",
        stack_trace='Traceback:\n  File "a.py", line 1',
        context={"b": 1, "a": {"nested": True}},
        payload={"order": 17},
        extra={"tags": {"region": "<i>eu</i>"}},
        classification={"category": "EXTERNAL_DEPENDENCY", "causes": []},
    )
    client.force_login(viewer)
    content = client.get(change_url(entry)).content.decode()
    assert "<script>alert" not in content
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; refused</pre>" in content
    assert "Traceback:\n  File &quot;a.py&quot;, line 1</pre>" in content
    assert (
        "{\n  &quot;a&quot;: {\n    &quot;nested&quot;: true\n  },\n  &quot;b&quot;: 1\n}"
        in content
    )
    assert "&lt;i&gt;eu&lt;/i&gt;" in content
    assert entry.event_id in content


def test_the_changelist_runs_no_full_count(client, viewer):
    ErrorLogEntryFactory.create_batch(3)
    client.force_login(viewer)
    for query in ("", "?severity__exact=HIGH", "?q=refused", "?range=24h"):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(CHANGELIST + query)
        assert response.status_code == 200
        assert full_counts(queries) == [], query
        assert response.context["cl"].result_count == 3


def test_a_filtered_count_is_capped(client, viewer, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "count_cap", 3)
    ErrorLogEntryFactory.create_batch(5)
    client.force_login(viewer)
    response = client.get(f"{CHANGELIST}?severity__exact=HIGH")
    assert response.context["cl"].result_count == 4  # the cap plus one, to know it is past
    assert "3+ error log entries" in response.content.decode()


def test_the_capped_count_is_a_limited_subquery(viewer):
    ErrorLogEntryFactory.create_batch(2)
    paginator = EstimatedCountPaginator(ErrorLogEntry.objects.filter(severity="HIGH"), 50)
    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == 2
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert "LIMIT 10001" in sql
    assert paginator.count_label == "2"


def test_counts_are_labelled(monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "count_cap", 3)
    ErrorLogEntryFactory.create_batch(5)
    capped = EstimatedCountPaginator(ErrorLogEntry.objects.filter(retryable=True), 50)
    assert capped.count_label == "3+"
    assert EstimatedCountPaginator(ErrorLogEntry.objects.none(), 50).count_label == "0"


def test_on_postgresql_the_unfiltered_count_comes_from_pg_class(
    client, viewer, postgres, monkeypatch
):
    monkeypatch.setattr(paginators.EstimatedCountPaginator, "count_cap", 5)
    ErrorLogEntryFactory.create_batch(12)
    with connection.cursor() as cursor:
        cursor.execute('ANALYZE "resilience_errorlogentry"')
    client.force_login(viewer)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST)

    sqls = [q["sql"] for q in queries.captured_queries]
    assert any("pg_class" in sql for sql in sqls)
    assert not any(FULL_COUNT.search(sql) for sql in sqls)  # not even a capped one
    assert response.context["cl"].result_count == 12
    assert "about 12 error log entries" in response.content.decode()


def test_on_postgresql_a_small_or_unanalysed_table_is_counted_exactly(postgres):
    ErrorLogEntryFactory.create_batch(2)
    paginator = EstimatedCountPaginator(ErrorLogEntry.objects.all(), 50)
    assert paginator.count == 2
    assert not paginator.count_is_estimate


def test_an_id_shaped_search_uses_the_event_id_alone(client, viewer):
    wanted = ErrorLogEntryFactory()
    ErrorLogEntryFactory(message=f"mentions {wanted.event_id}")
    client.force_login(viewer)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:resilience_errorlogentry_changelist"),
                              {"q": wanted.event_id})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [wanted]
    assert not any("LIKE" in q["sql"].upper() for q in queries)
