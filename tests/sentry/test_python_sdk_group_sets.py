"""Issue 15, points 4 and 6, with the real Python sentry_sdk against a live Faultline: a
group first seen in staging is found by `environment=production`, and an IntegrityError
with nothing to replay marks its group instead of filling the dead-letter queue."""

import pytest
import sentry_sdk
from django.test import Client

from alerts.hooks import digest_payload
from alerts.models import AlertRule
from alerts.services.evaluate import alerts_evaluate_digest
from resilience.digest.service import digest_batch
from resilience.ingest.keys import service_key_dsn
from resilience.models import ClassificationRule, DeadLetter, ErrorGroup

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def start_sdk(live_server, keys, settings):
    """Starts the SDK against the live server in one environment and release."""
    settings.EXTERNAL_URL = live_server.url

    def start(*, environment: str, release: str = "shop@2.1.0"):
        sentry_sdk.init(dsn=service_key_dsn(keys[0]), environment=environment, release=release,
                        default_integrations=False, auto_enabling_integrations=False,
                        auto_session_tracking=False, send_client_reports=False)
        return sentry_sdk

    yield start
    sentry_sdk.flush(timeout=5)
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: the SDK is off for the tests that follow


class IntegrityError(Exception):
    """What a database driver raises for a unique constraint (psycopg2's is named so)."""


def charge_order():
    raise IntegrityError('duplicate key value violates unique constraint "order_pk"')


def capture(sdk) -> None:
    try:
        charge_order()
    except IntegrityError as exc:
        sdk.capture_exception(exc)
    sdk.flush(timeout=5)


def groups(client, query: str) -> list[int]:
    response = client.get(f"/api/v1/groups/?{query}")
    assert response.status_code == 200, response.content
    return [g["id"] for g in response.json()["results"]]


def test_a_group_first_seen_in_staging_is_found_in_production(start_sdk, keys):
    capture(start_sdk(environment="staging", release="shop@2.1.0"))
    digest_batch(limit=100)
    capture(start_sdk(environment="production", release="shop@2.2.0"))
    digest_batch(limit=100)

    group = ErrorGroup.objects.get()
    assert group.times_seen == 2 and group.environment == "staging"
    client = Client(HTTP_AUTHORIZATION=f"Bearer {keys[1]}")
    assert groups(client, "environment=production") == [group.pk]
    assert groups(client, "environment=staging") == [group.pk]
    assert groups(client, "release=shop@2.1.0") == [group.pk]
    detail = client.get(f"/api/v1/groups/{group.pk}/").json()
    assert (detail["first_release"], detail["last_release"]) == ("shop@2.1.0", "shop@2.2.0")


def test_an_integrity_error_with_nothing_to_replay_marks_its_group_and_alerts(start_sdk):
    # The seed's DATA_CORRUPTION is CRITICAL (an immediate alert): an operator's rule at HIGH
    # is what makes the seed's DEAD_LETTER branch decide, as in the dead-letter tests.
    ClassificationRule.objects.create(code="IntegrityError", category="DATA_CORRUPTION",
                                      severity="HIGH")
    AlertRule.objects.create(name="everything")  # no migration data in a transactional test
    capture(start_sdk(environment="production"))

    result = digest_batch(limit=100)
    alerts = alerts_evaluate_digest(**digest_payload(result))

    assert not DeadLetter.objects.exists()
    group = ErrorGroup.objects.get()
    assert group.entries.get().strategy == "DEAD_LETTER"
    assert group.needs_manual_intervention
    [dead] = [a for a in alerts if a.kind == "dead_letter"]
    assert (dead.level, dead.message) == (
        "HIGH", "Operation moved to dead letter queue: unknown operation")
    assert dead.content["extra"]["group_id"] == group.pk
