"""/metrics: Prometheus text read from the database, behind a token or an address list."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from resilience.digest.service import digest_batch
from resilience.models import CircuitState
from tests import factories


def scrape(client=None, **headers):
    return (client or Client()).get("/metrics", **headers)


def samples(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_every_figure_is_read_from_the_database_and_parses(db, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    settings.METRICS_ALLOWED_IPS = []
    service = factories.ServiceFactory(slug="billing")
    for _ in range(3):
        factories.ErrorLogEntryFactory(service=service, category="TRANSIENT", severity="HIGH",
                                       strategy="RETRY")
    # Older than the cached part's boundary: summed once an hour, still in the total.
    factories.ErrorLogEntryFactory(service=service, category="TRANSIENT", severity="HIGH",
                                   strategy="FALLBACK", outcome="SUCCEEDED",
                                   timestamp=timezone.now() - timedelta(days=3))
    digest_batch(limit=10)
    factories.ErrorLogEntryFactory(received_at=timezone.now() - timedelta(seconds=90))
    CircuitState.objects.create(operation="timer.execute", state="OPEN")
    factories.DeadLetterFactory(status="PENDING")

    found = samples(scrape(HTTP_AUTHORIZATION="Bearer s3cret-token"))
    events = ("faultline_events_ingested_total",
              (("category", "TRANSIENT"), ("service", "billing"), ("severity", "HIGH")))
    assert found[events] == 4
    assert found[("faultline_decisions_total",
                  (("service", "billing"), ("strategy", "RETRY")))] == 3
    assert found[("faultline_outcomes_total",
                  (("outcome", "SUCCEEDED"), ("strategy", "FALLBACK")))] == 1
    assert found[("faultline_digest_lag_seconds", ())] >= 90
    assert found[("faultline_circuit_state",  # circuits belong to a service (faultline's)
                  (("operation", "timer.execute"), ("service", "faultline"),
                   ("state", "OPEN")))] == 1
    assert found[("faultline_circuit_state",
                  (("operation", "timer.execute"), ("service", "faultline"),
                   ("state", "CLOSED")))] == 0
    assert found[("faultline_circuits", (("state", "OPEN"),))] == 1
    assert found[("faultline_dead_letters", (("status", "PENDING"),))] == 1
    assert found[("faultline_dead_letters", (("status", "REPLAYED"),))] == 0
    assert all(value == 0 for (name, _), value in found.items()
               if name == "faultline_scrape_error")


def test_a_token_is_required_when_one_is_configured(db, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    settings.METRICS_ALLOWED_IPS = []
    assert scrape().status_code == 403
    assert scrape(HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    samples(scrape(HTTP_AUTHORIZATION="Bearer s3cret-token"))


@pytest.mark.parametrize(("allowed", "address", "status"), [
    (["10.0.0.0/8"], "10.1.2.3", 200),
    (["10.0.0.0/8"], "192.168.1.1", 403),
    (["192.168.1.1"], "192.168.1.1", 200),
    ([], "192.168.1.1", 403),  # nothing configured: nobody, not even loopback
    ([], "127.0.0.1", 403),
])
def test_addresses_can_be_allowed_without_a_token(db, settings, allowed, address, status):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = allowed
    assert scrape(REMOTE_ADDR=address).status_code == status


def test_the_alert_deliveries_are_read_only_if_the_alerts_app_has_them(db, settings):
    from django.apps import apps

    settings.METRICS_TOKEN = ""
    found = samples(scrape())
    has_model = True
    try:
        apps.get_model("alerts", "AlertDelivery")
    except LookupError:
        has_model = False
    assert any(name == "faultline_alert_deliveries" for name, _ in found) == has_model
    assert found[("faultline_scrape_error", (("section", "alerts"),))] == 0
