"""Read inputs (API filters, cursors, admin search and list filters) with hostile values,
on PostgreSQL: a 4xx naming the parameter, or the right rows, never a 500."""

import base64
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from django.urls import reverse

from resilience.digest.service import digest_batch
from resilience.models import ErrorLogEntry

pytestmark = pytest.mark.usefixtures("postgres")


@pytest.fixture
def stored(service_client):
    response = service_client.post("/api/v1/errors/", content_type="application/json",
                                   data=json.dumps([
        {"code": "EARLY", "operation": "db", "campaign_id": "c1", "release": "1.0",
         "timestamp": "2020-01-01T10:00:00Z"},
        {"code": "LATE", "operation": "db", "timestamp": "2020-01-02T10:00:00Z"},
    ]))
    assert response.status_code == 201, response.content
    digest_batch(limit=100)


def refused(response, field: str, words: str) -> None:
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert words in response.json()["message"]


def codes(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["code"] for row in response.json()["results"]}


def cursor(raw: str) -> str:
    return quote(base64.b64encode(raw.encode()).decode())


# --- API -------------------------------------------------------------------------------------


def test_since_and_until_take_offsets_postgresql_refuses(service_client, stored):
    # -16:52 is a valid RFC 3339 offset; 2020-01-01T00:00-16:52 is 16:52 UTC (was a 500).
    assert codes(service_client.get("/api/v1/errors/?until=2020-01-01T00:00:00-16:52")) == {
        "EARLY"}
    assert codes(service_client.get("/api/v1/errors/?since=2020-01-01T00:00:00-16:52")) == {
        "LATE"}
    assert codes(service_client.get("/api/v1/groups/?until=2020-01-01T00:00:00-16:52")) == {
        "EARLY"}


@pytest.mark.parametrize("query", ["since=0001-01-01T00:00:00%2B14:00",
                                   "until=9999-12-31T23:59:59-14:00"])
def test_a_bound_outside_the_years_a_datetime_holds_is_a_400(service_client, stored, query):
    refused(service_client.get(f"/api/v1/errors/?{query}"), query.split("=")[0],
            "is out of range")


@pytest.mark.parametrize("url, field", [
    ("/api/v1/errors/?operation=%00", "operation"),
    ("/api/v1/errors/?campaign_id=c%001", "campaign_id"),
    ("/api/v1/groups/?campaign_id=%00", "campaign_id"),
    ("/api/v1/groups/?release=1.0%00", "release"),
    ("/api/v1/groups/?environment=prod&%00=x", "\\0"),
])
def test_a_nul_in_any_filter_is_a_400_naming_it(service_client, stored, url, field):
    refused(service_client.get(url), field, "contains a NUL character (%00)")


def test_filters_without_nul_still_match(service_client, stored):
    assert codes(service_client.get("/api/v1/errors/?campaign_id=c1")) == {"EARLY"}
    assert codes(service_client.get("/api/v1/groups/?release=1.0")) == {"EARLY"}


@pytest.mark.parametrize("url", [
    "/api/v1/errors/?cursor=" + cursor("p=abc"),
    "/api/v1/errors/?cursor=" + cursor("p=" + "9" * 30),
    "/api/v1/errors/?cursor=" + cursor("p=1%00"),
    "/api/v1/groups/?cursor=" + cursor("p=not a time"),
    "/api/v1/groups/?cursor=" + cursor("p=0001-01-01T00:00:00+14:00"),
    "/api/v1/errors/?cursor=%C3%B6",  # not base64: DRF's own 404 before
])
def test_a_forged_cursor_is_a_400_naming_it_not_a_500(service_client, stored, url):
    refused(service_client.get(url), "cursor", "is not a cursor this list handed out")


def test_a_cursor_position_with_any_offset_is_read_in_utc(service_client, stored):
    late = cursor("p=2020-01-02T00:00:00-16:52")  # 2020-01-02T16:52Z: after LATE
    assert codes(service_client.get(f"/api/v1/groups/?cursor={late}")) == {"EARLY", "LATE"}


def test_an_id_beyond_bigint_is_a_404_or_a_400(service_client, stored):
    assert service_client.get("/api/v1/errors/99999999999999999999/").status_code == 404
    refused(service_client.get("/api/v1/errors/?group=99999999999999999999"), "group",
            "Select a valid choice")


# --- admin -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model, query", [
    ("resilience_errorlogentry", "q=%00"),
    ("resilience_errorlogentry", "operation=db%00"),  # a distinct-values list filter
    ("resilience_errorlogentry", "campaign_id=%00"),  # the free-text campaign filter
    ("resilience_errorgroup", "q=a%00b"),
    ("resilience_deadletter", "q=%00"),
    ("campaigns_campaign", "q=%00"),  # another app's admin: the same one check
])
def test_admin_search_and_list_filters_refuse_nul(admin_client, stored, model, query):
    response = admin_client.get(reverse(f"admin:{model}_changelist") + "?" + query)
    refused(response, query.split("=")[0], "contains a NUL character")


def test_admin_search_without_nul_still_finds(admin_client, stored):
    url = reverse("admin:resilience_errorlogentry_changelist")
    response = admin_client.get(url + "?q=EARLY")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_an_admin_date_lookup_with_any_offset_is_sent_in_utc(admin_client, stored):
    url = reverse("admin:resilience_errorlogentry_changelist")
    response = admin_client.get(url + "?timestamp__gte=2020-01-01T00:00:00-16:52")
    assert response.status_code == 200, response.content[:300]
    assert [e.code for e in response.context["cl"].result_list] == ["LATE"]


def test_any_query_with_an_offset_past_15_59_reaches_postgresql_as_utc(stored):
    minus_16_52 = timezone(-timedelta(hours=16, minutes=52))
    before = ErrorLogEntry.objects.filter(timestamp__lt=datetime(2020, 1, 1, tzinfo=minus_16_52))
    assert [e.code for e in before] == ["EARLY"]
    # Past year 9999 once in UTC: compared as the latest time there is.
    latest = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(-timedelta(hours=20)))
    assert ErrorLogEntry.objects.filter(timestamp__lt=latest).count() == 2
