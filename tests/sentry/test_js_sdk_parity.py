"""Issue 15, points 4 to 9, with the real @sentry/node SDK against a live Faultline, run as
tests/sentry/test_js_sdk.py runs it (its `node_sdk` install, send.js scenarios)."""

import hashlib
import json
from pathlib import Path

import pytest
from django.test import Client

from alerts.hooks import digest_payload
from alerts.models import AlertRule
from alerts.services.evaluate import alerts_evaluate_digest, alerts_evaluate_monitor
from monitors.models import CheckIn, Monitor
from resilience import conf
from resilience.core.scrubbing import FILTERED
from resilience.digest.service import digest_batch
from resilience.models import (
    ClassificationRule,
    DeadLetter,
    ErrorGroup,
    ErrorLogEntry,
    EventAttachment,
    UserFeedback,
)
from tests import factories
from tests.monitors.conftest import monitor_alerts, monitor_rule
from tests.sentry import test_js_sdk

# PostgreSQL only: the live server's threads store what the SDK sends while the test reads,
# which SQLite's single writer refuses now and then ("database is locked").
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgresql_only")]

# The fixtures this module shares, bound here so pytest finds them.
node_sdk = test_js_sdk.node_sdk
monitor_alerts = monitor_alerts
monitor_rule = monitor_rule
_run, _send = test_js_sdk._run, test_js_sdk._send

CARD = "4111 1111 1111 1111"


@pytest.fixture
def live(live_server, settings):
    settings.EXTERNAL_URL = live_server.url


def group_ids(client, query: str) -> list[int]:
    response = client.get(f"/api/v1/groups/?{query}")
    assert response.status_code == 200, response.content
    return [g["id"] for g in response.json()["results"]]


def test_a_node_group_first_seen_in_staging_is_found_in_production(node_sdk, live, service):
    key, raw = factories.service_key(service)
    _run(node_sdk, key, "chain", SEND_ENVIRONMENT="staging", SEND_RELEASE="web@2.1.0")
    digest_batch(limit=100)
    _run(node_sdk, key, "chain", SEND_ENVIRONMENT="production", SEND_RELEASE="web@2.2.0")
    digest_batch(limit=100)

    group = ErrorGroup.objects.get()
    assert group.times_seen == 2 and group.environment == "staging"
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert group_ids(client, "environment=production") == [group.pk]
    assert group_ids(client, "release=web@2.1.0") == [group.pk]
    detail = client.get(f"/api/v1/groups/{group.pk}/").json()
    assert (detail["first_release"], detail["last_release"]) == ("web@2.1.0", "web@2.2.0")


def test_node_messages_differing_only_in_a_duration_make_one_group(node_sdk, live, service):
    first, second = _run(node_sdk, factories.service_key(service)[0], "timeouts")
    assert ErrorLogEntry.objects.get(event_id=second).message == \
        "upstream timed out after 1500ms"
    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    assert group.times_seen == 2
    assert set(group.entries.values_list("event_id", flat=True)) == {first, second}


def test_a_node_constraint_error_with_nothing_to_replay_marks_its_group(node_sdk, live,
                                                                        service):
    # As in test_python_sdk_group_sets: an operator's rule at HIGH lets DEAD_LETTER decide.
    ClassificationRule.objects.create(code="SequelizeUniqueConstraintError",
                                      category="DATA_CORRUPTION", severity="HIGH")
    AlertRule.objects.create(name="everything")  # no migration data in a transactional test
    entry = _send(node_sdk, service, "constraint")
    assert entry.strategy == "DEAD_LETTER"

    alerts = alerts_evaluate_digest(**digest_payload(digest_batch(limit=100)))
    assert not DeadLetter.objects.exists()
    group = ErrorGroup.objects.get()
    assert group.needs_manual_intervention
    assert [a.kind for a in alerts].count("dead_letter") == 1


def test_node_extra_context_and_request_credentials_are_stored_scrubbed(node_sdk, live,
                                                                        service):
    entry = _send(node_sdk, service, "scrubbing")
    assert entry.extra["extra"]["login"] == {"user": "ada", "password": FILTERED}
    assert entry.extra["contexts"]["payment"] == {"card": FILTERED, "order_id": 1712345678901}
    request = entry.extra["request"]
    assert request["headers"]["Authorization"] == FILTERED
    assert request["headers"]["Cookie"] == FILTERED
    assert request["data"] == {"card_number": FILTERED, "name": "Ada Lovelace"}
    stored = str(entry.extra) + entry.message + entry.stack_trace + str(entry.context)
    for secret in ("hunter2", CARD, "s3cr3t-t0ken-value", "abc123"):
        assert secret not in stored


def test_node_check_ins_make_monitors_and_a_failed_job_raises_an_alert(
        node_sdk, live, service, monitor_alerts, monitor_rule):
    _run(node_sdk, factories.service_key(service)[0], "cron", SEND_ENVIRONMENT="production")

    nightly = Monitor.objects.get(slug="nightly-export")
    assert (nightly.crontab, nightly.timezone, nightly.checkin_margin_minutes) == (
        "0 3 * * *", "Europe/Paris", 10)
    assert nightly.status == Monitor.Status.ERROR
    run = CheckIn.objects.get(monitor=nightly)  # in_progress, then error: one run
    assert (run.status, run.environment) == ("error", "production")
    assert run.duration is not None
    hourly = Monitor.objects.get(slug="hourly-sync")
    assert hourly.status == Monitor.Status.OK
    assert CheckIn.objects.get(monitor=hourly).status == "ok"

    assert [(a["slug"], a["status"]) for a in monitor_alerts] == [("nightly-export", "error")]
    alert = alerts_evaluate_monitor(**monitor_alerts[0])
    assert (alert.kind, alert.title) == ("monitor", "Cron job failed: nightly-export")


def test_a_node_attachment_and_user_feedback_are_kept_with_their_event(node_sdk, live,
                                                                       service):
    entry = _send(node_sdk, service, "attachment")
    log = b"step 1 ok\nstep 2 failed: export.csv is locked\n"  # send.js's ATTACHMENT
    attachment = EventAttachment.objects.get()
    assert (attachment.event_id, attachment.filename) == (entry.event_id, "export.log")
    assert (attachment.size, attachment.sha256) == (len(log), hashlib.sha256(log).hexdigest())
    assert (Path(conf.get("ATTACHMENT_DIR")) / attachment.path).read_bytes() == log

    feedback = UserFeedback.objects.get()
    assert (feedback.kind, feedback.event_id) == ("feedback", entry.event_id)
    assert (feedback.comments, feedback.name, feedback.email) == (
        "The export never arrived.", "Ada", "ada@example.com")


def test_a_node_error_over_the_limit_is_refused_by_category_and_a_session_still_sent(
        node_sdk, live, service, budget_clock):
    key = factories.service_key(service, rate_limit_per_minute=1)[0]
    answers = [json.loads(line) for line in _run(node_sdk, key, "rate-limit")]
    assert answers == [
        {"items": ["event"], "status": 200, "limits": None},
        {"items": ["event"], "status": 429, "limits": "60:error;default:key"},
        {"items": ["event"], "status": None, "limits": None},  # the SDK held it back itself
        {"items": ["session"], "status": 200, "limits": None},
    ]
    assert ErrorLogEntry.objects.count() == 1
