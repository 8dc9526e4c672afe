"""Slack deliveries to a real local receiver: the payload field by field, retries on 5xx,
a 404 disables the channel."""

import pytest

from alerts.models import Alert, AlertAttempt, AlertDelivery, Channel
from alerts.services.delivery import alert_delivery_send
from tests.alerts.conftest import configure_defaults
from tests.alerts.helpers import digest, entries
from tests.alerts.test_evaluate import evaluate

pytestmark = pytest.mark.django_db
DStatus = AlertDelivery.Status


@pytest.fixture
def slack_delivery(service, queue, receiver):
    configure_defaults(slack=receiver.url)
    entries(service, 2, campaign_id="camp-7", component="billing")
    [alert] = evaluate(digest())
    return alert.deliveries.get(channel_kind="SLACK")


def test_it_posts_the_seeds_message(slack_delivery, receiver):
    outcome = alert_delivery_send(delivery_id=slack_delivery.pk)
    assert outcome.status == DStatus.SENT
    [request] = receiver.received
    assert request.headers["Content-Type"] == "application/json"
    body = request.json
    assert body["text"] == "*HIGH Alert*: connection refused"
    [attachment] = body["attachments"]
    assert attachment["color"] == "warning"
    assert attachment["title"].startswith("New error: ConnectionError")
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields["Level"] == "HIGH"
    assert fields["Error Category"] == "EXTERNAL_DEPENDENCY"
    assert fields["Error Code"] == "ECONNREFUSED"
    assert fields["Operation"] == "payment.charge"
    assert fields["Campaign ID"] == "camp-7"
    assert fields["Component"] == "billing"
    assert fields["Occurrences"] == "2"
    assert "/admin/resilience/errorgroup/" in fields["Link"]


def test_success_is_recorded_on_the_delivery_attempt_channel_and_alert(slack_delivery):
    alert_delivery_send(delivery_id=slack_delivery.pk)
    slack_delivery.refresh_from_db()
    assert (slack_delivery.status, slack_delivery.attempts, slack_delivery.last_status_code) \
        == (DStatus.SENT, 1, 200)
    [attempt] = slack_delivery.tries.all()
    assert (attempt.outcome, attempt.response_code) == ("SENT", 200)
    assert attempt.duration_ms is not None and attempt.finished_at is not None
    channel = Channel.objects.get(kind="SLACK")
    assert channel.last_delivery_at is not None and channel.last_duration_ms is not None
    assert Alert.objects.get().status == Alert.Status.DELIVERED


def test_it_handles_500_then_200(slack_delivery, receiver, queue):
    receiver.statuses = [500, 200]
    first = alert_delivery_send(delivery_id=slack_delivery.pk)
    assert first.status == DStatus.PENDING and first.retry_at is not None
    assert alert_delivery_send(delivery_id=slack_delivery.pk) is None  # not due yet
    second = alert_delivery_send(delivery_id=slack_delivery.pk, now=first.retry_at)
    assert second.status == DStatus.SENT
    attempts = list(AlertAttempt.objects.filter(delivery=slack_delivery).order_by("number"))
    assert [(a.number, a.outcome, a.response_code) for a in attempts] == [
        (1, "FAILED", 500), (2, "SENT", 200)]
    assert attempts[0].error.startswith("HTTP 500") and not attempts[0].permanent
    assert Channel.objects.get(kind="SLACK").last_error.endswith("HTTP 500: no_service")


def test_the_task_queues_its_own_retry_with_a_countdown(slack_delivery, receiver, queue):
    from alerts.tasks import alert_deliver

    receiver.statuses = [503]
    assert alert_deliver.run(delivery_id=slack_delivery.pk) == DStatus.PENDING
    [(task, kwargs, options)] = [m for m in queue.messages if "countdown" in m[2]]
    assert kwargs == {"delivery_id": slack_delivery.pk}
    assert task.name == "alerts.tasks.alert_deliver" and 0 < options["countdown"] <= 1.2


def test_it_handles_404_without_retrying_and_disables_the_channel(slack_delivery, receiver):
    receiver.statuses = [404]
    outcome = alert_delivery_send(delivery_id=slack_delivery.pk)
    assert outcome.status == DStatus.FAILED and outcome.retry_at is None
    channel = Channel.objects.get(kind="SLACK")
    assert not channel.enabled
    assert channel.disabled_reason.startswith("disabled after HTTP 404")
    assert "no_service" in channel.disabled_reason
    assert len(receiver.received) == 1
    assert Alert.objects.get().status == Alert.Status.UNDELIVERED


def test_other_4xx_are_not_retried_and_leave_the_channel_on(slack_delivery, receiver):
    receiver.statuses = [400]
    assert alert_delivery_send(delivery_id=slack_delivery.pk).status == DStatus.FAILED
    assert Channel.objects.get(kind="SLACK").enabled


def test_retries_stop_after_the_last_attempt(slack_delivery, receiver, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_MAX_ATTEMPTS": 2}
    receiver.statuses = [502]
    first = alert_delivery_send(delivery_id=slack_delivery.pk)
    second = alert_delivery_send(delivery_id=slack_delivery.pk, now=first.retry_at)
    assert second.status == DStatus.FAILED
    slack_delivery.refresh_from_db()
    assert slack_delivery.attempts == 2 and slack_delivery.tries.count() == 2


def test_a_channel_disabled_meanwhile_leaves_the_delivery_undelivered(slack_delivery, receiver):
    Channel.objects.filter(kind="SLACK").update(enabled=False, disabled_reason="rotating URL")
    outcome = alert_delivery_send(delivery_id=slack_delivery.pk)
    assert outcome.status == DStatus.UNDELIVERED
    assert outcome.error == "channel disabled: rotating URL"
    assert receiver.received == []
