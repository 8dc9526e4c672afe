"""Reports are scrubbed before storage by their service's rules (resilience/ingest/scrubbing.py)
on every way in; the native API here, the real Sentry SDK in tests/sentry/test_scrubbing_sdk.py."""

import json

import pytest
from django.db import OperationalError
from django.utils import timezone

from resilience.core.scrubbing import DEFAULT_SCRUBBER, FILTERED
from resilience.ingest import scrubbing
from resilience.ingest.scrubbing import service_scrubber
from resilience.ingest.service import ingest
from resilience.models import ErrorLogEntry, Service

pytestmark = pytest.mark.django_db

URL = "/api/v1/errors/"
CARD = "4111 1111 1111 1111"


@pytest.fixture(autouse=True)
def fresh_scrubbers():
    scrubbing.scrubbers_process_reset()
    yield
    scrubbing.scrubbers_process_reset()


def post(client, body):
    response = client.post(URL, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return ErrorLogEntry.objects.get(pk=response.json()["id"])


REPORT = {
    "code": "CARD_DECLINED",
    "message": f"card {CARD} declined for order 1712345678901",
    "stack_trace": f"Traceback (most recent call last):\nCardError: card {CARD} declined",
    "operation": "payment.charge",
    "context": {
        "password": "hunter2",
        "headers": {"Authorization": "Bearer abc.def.ghi", "Accept": "application/json"},
        "form": {"card_number": CARD, "iban": "DE89 3704 0044 0532 0130 00", "name": "Ada"},
        "query_string": "step=2&token=abc",
        "author": "ada",
    },
    "tags": {"auth_method": "otp", "team": "payments"},
    "payload": {"token": "kept-for-replay", "card": CARD},
    "cause": {"message": "IBAN GB82WEST12345698765432 refused"},
}


def test_a_native_report_is_stored_scrubbed(service_client):
    entry = post(service_client, REPORT)

    assert entry.message == f"card {FILTERED} declined for order 1712345678901"
    assert entry.stack_trace.endswith(f"CardError: card {FILTERED} declined")
    assert entry.context == {
        "password": FILTERED,
        "headers": {"Authorization": FILTERED, "Accept": "application/json"},
        "form": {"card_number": FILTERED, "iban": FILTERED, "name": "Ada"},
        "query_string": f"step=2&token={FILTERED}",
        "author": FILTERED,  # contains "auth": Sentry filters it too, unless it is safe
    }
    assert entry.extra["tags"] == {"auth_method": FILTERED, "team": "payments"}
    assert entry.cause == {"message": f"IBAN {FILTERED} refused"}
    # What is replayed must be what failed, and what is matched on stays as sent.
    assert entry.payload == REPORT["payload"]
    assert (entry.code, entry.operation) == ("CARD_DECLINED", "payment.charge")


def test_a_services_own_fields_and_safe_fields_apply(service_client, service):
    Service.objects.filter(pk=service.pk).update(
        scrub_sensitive_fields="customer_name\nIBAN", scrub_safe_fields="author, password"
    )
    entry = post(service_client, REPORT)
    assert entry.context["author"] == "ada"
    assert entry.context["password"] == "hunter2"
    assert entry.context["form"] == {"card_number": FILTERED, "iban": FILTERED, "name": "Ada"}
    entry = post(service_client, {"message": "x", "context": {"Customer-Name": "Ada"}})
    assert entry.context == {"Customer-Name": FILTERED}


def test_a_service_with_scrubbing_off_is_stored_as_sent(service_client, service):
    Service.objects.filter(pk=service.pk).update(scrub_data=False)
    entry = post(service_client, REPORT)
    assert entry.message == REPORT["message"]
    assert entry.context == REPORT["context"]


def test_guard_and_internal_reports_are_scrubbed_too(service):
    (accepted,) = ingest([{"message": "login failed", "context": {"password": "x"}}],
                         service_id=service.pk, now=timezone.now(), source="guard")
    assert ErrorLogEntry.objects.get(pk=accepted.id).context == {"password": FILTERED}


def test_the_rules_are_cached_and_a_save_reads_them_again(service, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "SCRUB_SETTINGS_CACHE_SECONDS": 60}
    assert service_scrubber(service.pk).enabled
    Service.objects.filter(pk=service.pk).update(scrub_data=False)
    assert service_scrubber(service.pk).enabled  # cached
    service.refresh_from_db()
    scrubbing.scrubbing_saved(service=service, before=None, actor=None)
    assert not service_scrubber(service.pk).enabled


def test_with_the_database_down_the_last_rules_or_the_defaults_apply(service, monkeypatch):
    Service.objects.filter(pk=service.pk).update(scrub_safe_fields="author")
    known = service_scrubber(service.pk)

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(Service.objects, "filter", down)
    assert service_scrubber(service.pk) is known
    assert service_scrubber(service.pk + 1000) is DEFAULT_SCRUBBER
