"""From a committed digest batch to Alert and AlertDelivery rows: what raises an alert,
routing, throttling with the count in the next alert, silences, muted groups, thresholds."""

from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from alerts.formatting import AlertContent, summary
from alerts.models import Alert, AlertDelivery, AlertRule, AlertThrottle, Channel, Silence
from alerts.services.evaluate import (
    alerts_check_digest_lag,
    alerts_evaluate_circuit_open,
    alerts_evaluate_dead_letter,
    alerts_evaluate_digest,
)
from resilience.dead_letters.services import dead_letter_create
from resilience.groups.triage import error_group_mute
from resilience.models import CircuitState, ErrorGroup
from tests.alerts.conftest import configure_defaults, rule
from tests.alerts.helpers import CRITICAL, digest, entries
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db
DStatus = AlertDelivery.Status
MUTE_DURATION = "24h"


@pytest.fixture
def configured(receiver, httpserver):
    return configure_defaults(slack=receiver.url, webhook=receiver.url, email="ops@example.test")


def evaluate(payload, now=None):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return alerts_evaluate_digest(**payload, now=now)


def test_the_digest_queues_one_evaluation_with_a_bounded_payload(service, queue):
    entries(service, 3)
    entries(service, 2, code="ETIMEDOUT", operation="event.publish")
    digest()
    assert queue.names() == ["alerts.tasks.alerts_evaluate_digest"]
    _, kwargs, _ = queue.messages[0]
    assert len(kwargs["new_groups"]) == 2
    assert sorted(n for _, n, _ in kwargs["groups"]) == [2, 3]
    assert kwargs["immediate"] == [] and kwargs["dead_letters"] == []


def test_a_new_high_group_goes_to_slack_and_webhook(service, queue, configured):
    entries(service, 3)
    [alert] = evaluate(digest())
    assert (alert.kind, alert.level, alert.occurrences) == ("new_group", "HIGH", 3)
    assert alert.title.startswith("New error: ")
    deliveries = {d.channel_kind: d.status for d in alert.deliveries.all()}
    assert deliveries == {"SLACK": DStatus.PENDING, "WEBHOOK": DStatus.PENDING}
    assert queue.names().count("alerts.tasks.alert_deliver") == 2


def test_rows_are_written_before_any_send(service, queue, configured, receiver):
    entries(service)
    evaluate(digest())
    assert AlertDelivery.objects.filter(status=DStatus.PENDING).count() == 2
    assert receiver.received == []  # sending is the alert_deliver task's job


def test_an_immediate_alert_decision_raises_a_critical_alert(service, queue, configured):
    entries(service, **CRITICAL)
    [alert] = evaluate(digest())
    assert alert.kind == "immediate" and alert.level == "CRITICAL"
    assert AlertContent.from_json(alert.content).extra["also"] == ["new_group"]
    assert {d.channel_kind for d in alert.deliveries.all()} == {"EMAIL", "SLACK", "WEBHOOK"}
    entries(service, **CRITICAL)
    payload = digest()
    assert payload["immediate"] and not payload["new_groups"]
    later = timezone.now() + timedelta(minutes=11)
    [again] = evaluate(payload, now=later)
    assert again.kind == "immediate" and "also" not in AlertContent.from_json(
        again.content).extra


def test_an_escalation_is_named_as_such(service, queue, configured):
    entries(service, **{**CRITICAL, "code": "FAULTLINE_HANDLER_FAILURE",
                        "message": "Handling KeyError for timer.execute failed"})
    [alert] = evaluate(digest())
    assert alert.kind == "escalation"
    assert alert.message == "Error handling system failure"
    assert alert.title.startswith("Error handling system failure: ")


def test_a_regression_raises_an_alert(service, queue, configured):
    entries(service)
    evaluate(digest())
    group = ErrorGroup.objects.get()
    ErrorGroup.objects.filter(pk=group.pk).update(status="RESOLVED",
                                                  resolved_at=timezone.now())
    entries(service)
    payload = digest()
    assert payload["regressions"] == [group.pk]
    [alert] = evaluate(payload, now=timezone.now() + timedelta(minutes=10))
    assert alert.kind == "regression"


def test_low_goes_nowhere_but_is_recorded_as_logged(service, queue, configured):
    entries(service, severity="LOW")
    [alert] = evaluate(digest())
    assert alert.status == Alert.Status.LOGGED
    assert not alert.deliveries.exists()


def test_a_group_raises_one_alert_per_window_and_the_next_one_says_how_many(
        service, queue, configured):
    entries(service, **CRITICAL)
    t0 = timezone.now()
    [first] = evaluate(digest(), now=t0)
    for minute, n in ((2, 20), (6, 37)):
        entries(service, n, **CRITICAL)
        payload = digest()
        assert payload["immediate"]  # would alert
        assert evaluate(payload, now=t0 + timedelta(minutes=minute)) == []
    first.refresh_from_db()
    assert first.occurrences == 1 + 57  # later occurrences are counted into it
    entries(service, **CRITICAL)
    [second] = evaluate(digest(), now=t0 + timedelta(minutes=10))
    assert second.previous_count == 57
    assert second.previous_since == t0 + timedelta(minutes=2)
    assert summary(AlertContent.from_json(second.content)).endswith(
        f"(and 57 more since {t0 + timedelta(minutes=2):%H:%M} UTC)")
    assert AlertThrottle.objects.get(key=f"group:{first.group_id}").count == 0


def test_occurrences_that_raise_nothing_are_counted_into_the_open_window(
        service, queue, configured):
    entries(service)
    t0 = timezone.now()
    [first] = evaluate(digest(), now=t0)
    entries(service, 4)  # an existing group: no new alert, just occurrences
    assert evaluate(digest(), now=t0 + timedelta(minutes=1)) == []
    first.refresh_from_db()
    assert first.occurrences == 5
    row = AlertThrottle.objects.get(key=f"group:{first.group_id}")
    assert (row.count, row.count_since) == (4, t0 + timedelta(minutes=1))


def test_a_silenced_group_is_recorded_as_suppressed_not_sent(service, queue, configured):
    entries(service)
    payload = digest()
    group = ErrorGroup.objects.get()
    Silence.objects.create(group=group, ends_at=timezone.now() + timedelta(hours=1),
                           reason="known, fix deploying")
    [alert] = evaluate(payload)
    assert alert.status == Alert.Status.SUPPRESSED
    assert alert.status_reason.startswith("silenced")
    assert {d.status for d in alert.deliveries.all()} == {DStatus.SUPPRESSED}
    assert "alerts.tasks.alert_deliver" not in queue.names()


def test_silences_by_service_and_by_rule(service, queue, configured):
    entries(service)
    payload = digest()
    silence = Silence.objects.create(service=service, reason="maintenance",
                                     ends_at=timezone.now() + timedelta(hours=1))
    [alert] = evaluate(payload)
    assert alert.status == Alert.Status.SUPPRESSED
    silence.delete()
    AlertThrottle.objects.all().delete()
    Silence.objects.create(rule=AlertRule.objects.get(name__startswith="HIGH"),
                           reason="noisy", ends_at=timezone.now() + timedelta(hours=1))
    [alert] = evaluate(payload)
    assert alert.status == Alert.Status.SUPPRESSED


def test_an_ended_silence_mutes_nothing(service, queue, configured):
    entries(service)
    payload = digest()
    Silence.objects.create(service=service, reason="over", starts_at=timezone.now() -
                           timedelta(hours=2), ends_at=timezone.now() - timedelta(hours=1))
    [alert] = evaluate(payload)
    assert alert.status == Alert.Status.PENDING


def test_a_group_muted_by_triage_does_not_alert(service, queue, configured, triager):
    entries(service)
    evaluate(digest())
    group = ErrorGroup.objects.get()
    error_group_mute(group=group, actor=triager, duration=MUTE_DURATION, via="admin")
    AlertThrottle.objects.all().delete()
    entries(service, **{"strategy": "IMMEDIATE_ALERT"})
    payload = digest()
    [alert] = evaluate(payload)
    assert alert.status == Alert.Status.SUPPRESSED and alert.status_reason == "group muted"


def test_n_events_in_m_minutes(service, queue, configured):
    slack = Channel.objects.get(kind="SLACK")
    AlertRule.objects.update(enabled=False)  # only the threshold rule
    rule("Bursts", channels=[slack], threshold_count=5, threshold_minutes=2)
    now = timezone.now()
    entries(service, 3, received_at=now - timedelta(minutes=5))
    assert evaluate(digest(), now=now) == []  # 3 events, old ones at that
    entries(service, 4, received_at=now - timedelta(seconds=30))
    assert evaluate(digest(), now=now) == []  # only 4 within the last 2 minutes
    entries(service, 1, received_at=now)
    [alert] = evaluate(digest(), now=now)
    assert alert.kind == "threshold"
    assert alert.title.startswith("5+ events in 2 min")
    assert [d.channel_kind for d in alert.deliveries.all()] == ["SLACK"]


def test_a_dead_letter_from_the_digest_raises_an_alert(service, queue, configured):
    entries(service, 2, strategy="DEAD_LETTER", category="DATA_CORRUPTION",
            operation="database.write")
    payload = digest()
    assert len(payload["dead_letters"]) == 1 and payload["dead_letters"][0][1] == 2
    alerts = evaluate(payload)
    dead = [a for a in alerts if a.kind == "dead_letter"]
    assert len(dead) == 1 and dead[0].occurrences == 2
    assert dead[0].group_key == f"faultline:dead_letter:{service.slug}:database.write"


def test_a_dead_letter_made_by_the_api_queues_its_own_alert(service, queue, configured):
    with TestCase.captureOnCommitCallbacks(execute=True):
        letter = dead_letter_create(service_id=service.pk, operation="order.sync",
                                    payload={"id": 1}, reason="gave up")
    assert queue.names() == ["alerts.tasks.alerts_dead_letter_created"]
    alert = alerts_evaluate_dead_letter(dead_letter_id=letter.pk)
    assert alert.kind == "dead_letter" and alert.level == "HIGH"


def test_a_circuit_opening_queues_an_alert(settings, queue, configured, db):
    from resilience.circuits.services import circuit_record_failure

    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_FAILURE_THRESHOLD": 2,
                          "CIRCUIT_SETTINGS_CACHE_SECONDS": 0}
    with TestCase.captureOnCommitCallbacks(execute=True):
        circuit_record_failure(operation="timer.execute")
    assert queue.names() == []
    with TestCase.captureOnCommitCallbacks(execute=True):
        circuit_record_failure(operation="timer.execute")
    assert queue.names() == ["alerts.tasks.alerts_circuit_opened"]
    alert = alerts_evaluate_circuit_open(operation="timer.execute")
    faultline = CircuitState.objects.get(operation="timer.execute").service_id
    assert (alert.kind, alert.level, alert.subject_key) == (
        "circuit_open", "HIGH", f"circuit:{faultline}:timer.execute")
    assert alert.group_key == "faultline:circuit:timer.execute"


def test_a_services_circuit_alert_names_that_service(settings, queue, configured, db):
    from resilience.circuits.services import circuit_record_failure

    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_FAILURE_THRESHOLD": 1,
                          "CIRCUIT_SETTINGS_CACHE_SECONDS": 0}
    billing, shop = ServiceFactory(name="Billing"), ServiceFactory(name="Shop")
    for service in (billing, shop):
        circuit_record_failure(operation="payments.charge", service_id=service.pk)
    shops = CircuitState.objects.get(operation="payments.charge", service=shop)
    alert = alerts_evaluate_circuit_open(operation="payments.charge", circuit_id=shops.pk)
    assert alert.subject_key == f"circuit:{shop.pk}:payments.charge"
    assert alert.content["service_name"] == "Shop"


def test_digestion_lagging_past_the_threshold_raises_an_alert(service, queue, configured,
                                                             settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_DIGEST_LAG_SECONDS": 300}
    now = timezone.now()
    entries(service, received_at=now - timedelta(seconds=200))
    assert alerts_check_digest_lag(now=now) is None
    alert = alerts_check_digest_lag(now=now + timedelta(seconds=200))
    assert alert.kind == "digest_lag" and "400 s" in alert.title
    assert alerts_check_digest_lag(now=now + timedelta(seconds=260)) is None  # throttled


def test_a_critical_that_no_rule_matches_is_still_recorded(service, queue, configured,
                                                          critical_log):
    AlertRule.objects.all().delete()
    entries(service, **CRITICAL)
    [alert] = evaluate(digest())
    assert alert.status == Alert.Status.UNDELIVERED
    assert alert.status_reason == "no alert rule matched"
    assert critical_log.exists()


def test_alerting_can_be_switched_off(service, queue, configured, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_ENABLED": False}
    entries(service)
    digest()
    assert queue.names() == []


def test_an_operational_alert_from_recovery_is_routed_as_critical(queue, configured, db):
    from alerts.hooks import operational_alert

    operational_alert(title="Redis still down", detail="reconnect failed", source="recovery")
    [alert] = queue.run("alerts.tasks.alerts_operational")
    alert = Alert.objects.get(pk=alert)
    assert (alert.kind, alert.level) == ("operational", "CRITICAL")
    assert {d.channel_kind for d in alert.deliveries.all()} == {"EMAIL", "SLACK", "WEBHOOK"}
