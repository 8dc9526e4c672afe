"""GET /api/v1/errors/ and /groups/, the group triage endpoints, and the OpenAPI schema."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from resilience.digest.service import digest_batch
from resilience.models import ErrorGroup, GroupHistory
from tests import factories


def _report(client, bodies):
    response = client.post("/api/v1/errors/", data=json.dumps(bodies),
                           content_type="application/json")
    assert response.status_code == 201, response.content


@pytest.fixture
def stored(service_client):
    now = timezone.now()
    _report(service_client, [
        {"code": "ECONNRESET", "operation": "event.publish", "campaign_id": "c1",
         "timestamp": (now - timedelta(minutes=5)).isoformat()},
        {"code": "401", "operation": "auth", "campaign_id": "c2",
         "timestamp": (now - timedelta(hours=3)).isoformat()},
        {"code": "ValidationError", "operation": "campaign.update", "campaign_id": "c1",
         "timestamp": (now - timedelta(days=3)).isoformat()},
    ])
    digest_batch(limit=100)


def token_client(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {factories.operator_token(user)}")


def test_a_service_lists_its_own_errors_newest_first(service_client, stored):
    other = factories.service_key(factories.ServiceFactory())[1]
    _report(Client(HTTP_AUTHORIZATION=f"Bearer {other}"), {"code": "X"})
    body = service_client.get("/api/v1/errors/").json()
    assert [r["code"] for r in body["results"]] == ["ValidationError", "401", "ECONNRESET"]
    assert "next" in body and "count" not in body


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("campaign_id=c1", {"ECONNRESET", "ValidationError"}),
        ("category=SECURITY", {"401"}),
        ("severity=LOW", {"ECONNRESET"}),
        ("operation=auth", {"401"}),
        ("range=15m", {"ECONNRESET"}),
        ("range=24h", {"ECONNRESET", "401"}),
        ("range=2h", {"ECONNRESET"}),  # any Nm/Nh/Nd, as the seed's parseTimeRange
        ("range=4d", {"ECONNRESET", "401", "ValidationError"}),
        ("resolved=false", {"ECONNRESET", "401", "ValidationError"}),
    ],
)
def test_the_error_list_filters(service_client, stored, query, codes):
    response = service_client.get(f"/api/v1/errors/?{query}")
    assert response.status_code == 200, response.content
    assert {r["code"] for r in response.json()["results"]} == codes


def test_since_and_until_bound_the_list(service_client, stored):
    since = (timezone.now() - timedelta(hours=4)).isoformat()
    until = (timezone.now() - timedelta(hours=1)).isoformat()
    response = service_client.get("/api/v1/errors/", {"since": since, "until": until})
    assert {r["code"] for r in response.json()["results"]} == {"401"}


def test_resolved_filters_through_the_group(service_client, stored, triager):
    from resilience.groups.triage import error_group_resolve

    error_group_resolve(group=ErrorGroup.objects.get(code="401"), actor=triager)
    response = service_client.get("/api/v1/errors/?resolved=true")
    assert [r["code"] for r in response.json()["results"]] == ["401"]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("range=2w", "range", "followed by m, h or d"),
        ("category=NOPE", "category", "valid choice"),
        ("since=yesterday", "since", "date"),
    ],
)
def test_a_bad_filter_is_a_400_that_names_it(service_client, stored, query, field, words):
    response = service_client.get(f"/api/v1/errors/?{query}")
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert words in response.json()["message"]


def test_pages_follow_the_cursor(service_client):
    _report(service_client, [{"code": f"E{i}"} for i in range(7)])
    first = service_client.get("/api/v1/errors/?limit=5").json()
    second = service_client.get(first["next"]).json()
    codes = [r["code"] for r in first["results"] + second["results"]]
    assert codes == [f"E{i}" for i in reversed(range(7))]


def test_operators_read_with_the_view_permission(stored, viewer, db):
    client = token_client(viewer)
    assert client.get("/api/v1/errors/").status_code == 200
    assert client.get("/api/v1/groups/").status_code == 200
    nobody = factories.operator("nobody", role="Viewer")
    nobody.groups.clear()
    assert token_client(nobody).get("/api/v1/errors/").status_code == 403


def test_anonymous_reads_are_refused(db):
    assert Client().get("/api/v1/errors/").status_code in (401, 403)


def test_groups_list_and_filter(service_client, stored):
    body = service_client.get("/api/v1/groups/?category=SECURITY").json()
    assert [g["code"] for g in body["results"]] == ["401"]
    assert body["results"][0]["times_seen"] == 1
    body = service_client.get("/api/v1/groups/?campaign_id=c1").json()
    assert {g["code"] for g in body["results"]} == {"ECONNRESET", "ValidationError"}


def test_a_triager_resolves_mutes_and_reopens_by_api(stored, triager):
    group = ErrorGroup.objects.get(code="401")
    client = token_client(triager)
    response = client.post(f"/api/v1/groups/{group.pk}/resolve/")
    assert response.status_code == 200
    assert response.json()["status"] == "RESOLVED"
    assert response.json()["resolved_by"] == "triager"

    response = client.post(f"/api/v1/groups/{group.pk}/mute/", data={"duration": "1h"},
                           content_type="application/json")
    assert response.json()["status"] == "MUTED"
    assert client.post(f"/api/v1/groups/{group.pk}/reopen/").json()["status"] == "OPEN"

    history = list(GroupHistory.objects.filter(group=group).order_by("at", "id")
                   .values_list("action", "actor__username", "via"))
    assert history == [("RESOLVED", "triager", "api"), ("MUTED", "triager", "api"),
                       ("REOPENED", "triager", "api")]
    detail = client.get(f"/api/v1/groups/{group.pk}/").json()
    assert detail["history"][0]["action"] == "REOPENED"


def test_a_bad_mute_duration_is_a_400(stored, triager):
    group = ErrorGroup.objects.first()
    response = token_client(triager).post(f"/api/v1/groups/{group.pk}/mute/",
                                          data={"duration": "forever"},
                                          content_type="application/json")
    assert response.status_code == 400
    assert response.json()["field"] == "duration"


def test_viewers_and_services_cannot_triage(service_client, stored, viewer):
    group = ErrorGroup.objects.first()
    assert token_client(viewer).post(f"/api/v1/groups/{group.pk}/resolve/").status_code == 403
    assert service_client.post(f"/api/v1/groups/{group.pk}/resolve/").status_code in (401, 403)
    group.refresh_from_db()
    assert group.status == "OPEN"


def test_the_openapi_schema_documents_the_report(db):
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/v1/errors/" in schema["paths"]
    report = schema["components"]["schemas"]["Report"]["properties"]
    assert {"event_id", "code", "cause", "attempt_count", "payload"} <= set(report)
