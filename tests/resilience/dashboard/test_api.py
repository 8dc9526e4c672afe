"""GET /api/v1/metrics/ and POST /api/v1/errors/{id}/outcome/."""

import json

import pytest
from django.test import Client

from resilience.digest.service import digest_batch
from resilience.models import ErrorLogEntry, ErrorMetric
from tests import factories
from tests.resilience.dashboard.test_health_score import seed_health_score

METRICS = "/api/v1/metrics/"


def outcome_url(entry_id: int) -> str:
    return f"/api/v1/errors/{entry_id}/outcome/"


def post_outcome(client, entry_id, body):
    return client.post(outcome_url(entry_id), data=json.dumps(body),
                       content_type="application/json")


def test_an_operator_with_view_permission_reads_every_figure(generated, viewer):
    client = Client()
    client.force_login(viewer)
    response = client.get(METRICS, {"range": "7d"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == len(generated.entries)
    assert body["resolution"] == "hour"
    assert set(body) >= {"by_category", "by_severity", "trend", "top_groups", "top_codes",
                         "recovery", "health_score", "system"}
    assert body["recovery"]["unknown"] >= 0


# The seed's ErrorMetrics fields and the keys that carry them (snake_case, kept as they were).
SEED_FIELDS = {
    "timeRange": "range", "startTime": "since", "endTime": "until",
    "totalErrors": "total", "errorsByCategory": "by_category",
    "errorsBySeverity": "by_severity", "errorTrends": "trend", "topErrors": "top_codes",
    "recoveryRate": "recovery_rate", "healthScore": "health_score",
}


def test_the_answer_carries_every_figure_of_the_seeds_error_metrics(known_api, viewer):
    client = Client()
    client.force_login(viewer)
    body = client.get(METRICS).json()  # no range: the seed's default
    assert body["range"] == "1h"
    assert set(SEED_FIELDS.values()) <= set(body)
    assert body["total"] == 3
    assert body["by_category"][0] == {"category": "TRANSIENT", "count": 2}
    assert [r["severity"] for r in body["by_severity"]] == ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
    assert sum(p["count"] for p in body["trend"]) == 3
    assert body["top_codes"][0]["code"] == "ECONNRESET" and "last_seen" in body["top_codes"][0]
    assert body["recovery_rate"] == round(100 / 3, 2) == body["recovery"]["rate"]
    assert body["health_score"] == seed_health_score(3, 100 / 3) == 100.0  # clamped
    assert body["health_score_inputs"] == {"total_errors": 3, "recovery_rate": 33.33}


@pytest.fixture
def known_api(db):
    from resilience.handling.outcomes import entry_outcome_record

    first = factories.ErrorLogEntryFactory(code="ECONNRESET", category="TRANSIENT",
                                           strategy="RETRY")
    factories.ErrorLogEntryFactory(code="ECONNRESET", category="TRANSIENT", strategy="RETRY")
    factories.ErrorLogEntryFactory(code="401", category="SECURITY", severity="CRITICAL",
                                   strategy="IMMEDIATE_ALERT")
    digest_batch(limit=10)
    entry_outcome_record(entry_id=first.pk, succeeded=True)


def test_the_default_range_is_the_seeds_1h(viewer):
    client = Client()
    client.force_login(viewer)
    assert client.get(METRICS).json()["range"] == "1h"


def test_a_staff_user_without_the_permission_is_refused(db):
    from django.contrib.auth.models import User

    user = User.objects.create_user("nobody", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(METRICS).status_code == 403


def test_anonymous_is_refused():
    assert Client().get(METRICS).status_code in (401, 403)


def test_a_service_key_sees_only_its_own_service(service_client, service):
    mine = factories.ErrorLogEntryFactory(service=service)
    factories.ErrorLogEntryFactory()  # another service
    digest_batch(limit=10)
    body = service_client.get(METRICS, {"range": "1h"}).json()
    assert body["total"] == 1
    assert body["service"] == service.pk
    assert body["top_groups"][0]["service"] == service.slug
    assert mine.pk
    other = factories.ServiceFactory()
    refused = service_client.get(METRICS, {"service": other.slug})
    assert refused.status_code == 403
    assert service_client.get(METRICS, {"service": service.slug}).status_code == 200


def test_an_operator_can_scope_by_service_and_environment(viewer):
    a = factories.ErrorLogEntryFactory(environment="production")
    factories.ErrorLogEntryFactory(service=a.service, environment="staging")
    factories.ErrorLogEntryFactory()
    digest_batch(limit=10)
    client = Client()
    client.force_login(viewer)
    assert client.get(METRICS, {"range": "1h"}).json()["total"] == 3
    assert client.get(METRICS, {"service": a.service.pk}).json()["total"] == 2
    assert client.get(METRICS, {"service": a.service.slug,
                                "environment": "staging"}).json()["total"] == 1


@pytest.mark.parametrize("value", ["2w", "24H", "all", "0h", "-1h", "401d"])
def test_a_bad_range_is_a_400_naming_the_parameter(viewer, value):
    client = Client()
    client.force_login(viewer)
    response = client.get(METRICS, {"range": value})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "range"
    assert value in body["message"]
    assert "followed by m, h or d" in body["message"] or "longest range, 400d" in body["message"]


def test_with_the_seeds_reading_a_bad_range_answers_for_one_hour(viewer, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "METRICS_REFUSE_BAD_RANGE": False}
    client = Client()
    client.force_login(viewer)
    response = client.get(METRICS, {"range": "2w"})
    assert response.status_code == 200
    assert response.json()["range"] == "2w"
    one_hour = client.get(METRICS, {"range": "1h"}).json()  # the same cached figures
    assert (one_hour["range"], one_hour["since"]) == ("1h", response.json()["since"])


@pytest.mark.parametrize("value", ["2h", "90m", "3d", "400d"])
def test_any_number_of_minutes_hours_or_days_is_accepted(viewer, value):
    client = Client()
    client.force_login(viewer)
    response = client.get(METRICS, {"range": value})
    assert response.status_code == 200, response.content
    assert response.json()["range"] == value


def test_an_unknown_service_is_a_400(viewer):
    client = Client()
    client.force_login(viewer)
    response = client.get(METRICS, {"service": "nope"})
    assert response.status_code == 400
    assert response.json()["field"] == "service"


def test_an_outcome_is_recorded_and_counted_in_the_rollup(service_client, service):
    entry = factories.ErrorLogEntryFactory(service=service, strategy="RETRY")
    digest_batch(limit=10)
    response = post_outcome(service_client, entry.pk, {"success": True})
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "SUCCEEDED" and response.json()["changed"]
    assert ErrorMetric.objects.get().succeeded == 1
    again = post_outcome(service_client, entry.pk, {"success": True})
    assert again.json()["changed"] is False
    assert ErrorMetric.objects.get().succeeded == 1
    body = service_client.get(METRICS, {"range": "1h"}).json()
    assert body["recovery"] == {"results": 1, "handled": 1, "succeeded": 1, "failed": 0,
                                "unknown": 0, "reported": 1, "rate": 100.0, "note": ""}


def test_another_services_entry_is_a_404(service_client):
    entry = factories.ErrorLogEntryFactory()
    response = post_outcome(service_client, entry.pk, {"success": True})
    assert response.status_code == 404
    entry.refresh_from_db()
    assert entry.outcome == ""


@pytest.mark.parametrize("body", [{}, {"success": "perhaps"}, {"ok": True}])
def test_a_bad_outcome_body_is_a_400_naming_the_field(service_client, service, body):
    entry = factories.ErrorLogEntryFactory(service=service)
    response = post_outcome(service_client, entry.pk, body)
    assert response.status_code == 400
    assert response.json()["field"] == "success"


def test_an_operator_session_cannot_report_outcomes(viewer):
    entry = factories.ErrorLogEntryFactory()
    client = Client()
    client.force_login(viewer)
    assert post_outcome(client, entry.pk, {"success": True}).status_code in (401, 403)
    assert ErrorLogEntry.objects.get(pk=entry.pk).outcome == ""


def test_the_schema_documents_both_endpoints(db):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    text = schema.content.decode()
    assert "/api/v1/metrics/" in text and "/api/v1/errors/{id}/outcome/" in text
