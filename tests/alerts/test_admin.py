"""The alerting admin: who may see and do what, the actions, the write-only secret and
the audit trail."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, AlertDelivery, AlertRule, Channel, Silence
from alerts.services.delivery import alert_delivery_resend
from resilience.models import AuditEvent
from tests.alerts.conftest import SECRET, configure_defaults
from tests.alerts.helpers import digest, entries
from tests.alerts.test_evaluate import evaluate

pytestmark = pytest.mark.django_db
MODELS = ("alert", "alertdelivery", "alertattempt", "alertrule", "channel", "silence")


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("root", "root@example.test", "pw")


def alert_perms(role):
    return set(Group.objects.get(name=role).permissions.filter(
        content_type__app_label="alerts").values_list("codename", flat=True))


def test_roles_see_alerts_and_triagers_may_resend_and_silence():
    assert alert_perms("Viewer") == {f"view_{m}" for m in MODELS}
    assert alert_perms("Triager") == {f"view_{m}" for m in MODELS} | {
        "resend_alertdelivery", "create_silence"}


@pytest.mark.parametrize("name", MODELS[:2] + MODELS[3:])
@pytest.mark.parametrize("user", ["viewer", "triager"])
def test_operators_reach_every_alerting_changelist(client, request, user, name):
    client.force_login(request.getfixturevalue(user))
    assert client.get(reverse(f"admin:alerts_{name}_changelist")).status_code == 200


@pytest.mark.parametrize("user", ["viewer", "triager"])
def test_operators_cannot_change_channels_or_rules(client, request, user):
    client.force_login(request.getfixturevalue(user))
    channel = Channel.objects.get(kind="WEBHOOK")
    assert client.get(reverse("admin:alerts_channel_add")).status_code == 403
    assert client.get(reverse("admin:alerts_alertrule_add")).status_code == 403
    page = client.get(reverse("admin:alerts_channel_change", args=[channel.pk]))
    assert page.status_code == 200 and b'name="url"' not in page.content


def test_the_secret_is_write_only(client, admin_user, receiver):
    configure_defaults(webhook=receiver.url)
    channel = Channel.objects.get(kind="WEBHOOK")
    client.force_login(admin_user)
    url = reverse("admin:alerts_channel_change", args=[channel.pk])
    page = client.get(url)
    assert SECRET.encode() not in page.content
    form = {"name": channel.name, "kind": "WEBHOOK", "recipients": "", "url": receiver.url,
            "secret": "", "enabled": "on", "disabled_reason": ""}
    assert client.post(url, form).status_code == 302
    channel.refresh_from_db()
    assert channel.secret == SECRET  # empty means unchanged
    client.post(url, {**form, "secret": "new-secret"})
    channel.refresh_from_db()
    assert channel.secret == "new-secret"
    events = AuditEvent.objects.filter(action="alert_channel.change")
    assert events.count() == 2 and events.first().detail["secret_changed"] is True
    assert "new-secret" not in str(events.first().detail)


def test_a_channel_cannot_be_enabled_without_its_url(client, admin_user):
    channel = Channel.objects.get(kind="SLACK")
    client.force_login(admin_user)
    page = client.post(reverse("admin:alerts_channel_change", args=[channel.pk]), {
        "name": channel.name, "kind": "SLACK", "recipients": "", "url": "", "secret": "",
        "enabled": "on", "disabled_reason": ""})
    assert page.status_code == 200 and b"Cannot enable this channel: no URL" in page.content


def test_send_test_alert_queues_a_delivery_even_to_a_disabled_channel(
        client, admin_user, queue, receiver):
    channel = Channel.objects.get(kind="SLACK")
    channel.url = receiver.url
    channel.save()  # filled in, not enabled yet: test first
    client.force_login(admin_user)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(reverse("admin:alerts_channel_changelist"), {
            "action": "send_test_alert", "_selected_action": [channel.pk]}, follow=True)
    assert b"Test alert queued" in response.content
    assert receiver.received == []  # never sent on the request
    queue.run("alerts.tasks.alert_deliver")
    [request] = receiver.received
    assert request.json["text"] == ("*LOW Alert*: This is a test alert sent from the "
                                    "Faultline admin. No action is needed.")
    assert request.json["attachments"][0]["title"] == "Test alert for Slack"
    assert AuditEvent.objects.filter(action="alert_channel.test").exists()
    assert LogEntry.objects.filter(object_id=str(channel.pk)).exists()


def test_a_triager_resends_a_failed_delivery(client, triager, queue, receiver, service):
    configure_defaults(slack=receiver.url)
    entries(service)
    [alert] = evaluate(digest())
    delivery = alert.deliveries.get(channel_kind="SLACK")
    receiver.statuses = [400, 200]
    queue.run("alerts.tasks.alert_deliver")
    delivery.refresh_from_db()
    assert delivery.status == AlertDelivery.Status.FAILED
    client.force_login(triager)
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(reverse("admin:alerts_alertdelivery_changelist"),
                    {"action": "resend", "_selected_action": [delivery.pk]})
    queue.run("alerts.tasks.alert_deliver")
    delivery.refresh_from_db()
    assert delivery.status == AlertDelivery.Status.SENT
    assert [a.outcome for a in delivery.tries.order_by("number")] == ["FAILED", "SENT"]
    assert Alert.objects.get(pk=alert.pk).status == Alert.Status.DELIVERED
    assert AuditEvent.objects.filter(action="alert_delivery.resend", actor=triager).exists()


def test_a_viewer_cannot_resend(viewer, service, queue):
    entries(service)
    [alert] = evaluate(digest())
    delivery = alert.deliveries.first()
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        alert_delivery_resend(delivery=delivery, actor=viewer)


def test_a_triager_creates_and_ends_a_silence(client, triager, service):
    client.force_login(triager)
    now = timezone.now()
    response = client.post(reverse("admin:alerts_silence_add"), {
        "service": service.pk, "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": now.strftime("%H:%M:%S"),
        "ends_at_0": (now + timedelta(hours=2)).strftime("%Y-%m-%d"),
        "ends_at_1": (now + timedelta(hours=2)).strftime("%H:%M:%S"),
        "reason": "deploying the fix"})
    assert response.status_code == 302, response.content
    silence = Silence.objects.get()
    assert silence.created_by == triager
    assert AuditEvent.objects.filter(action="silence.create", actor=triager).exists()
    client.post(reverse("admin:alerts_silence_changelist"),
                {"action": "end_now", "_selected_action": [silence.pk]})
    silence.refresh_from_db()
    assert silence.ends_at <= timezone.now()
    assert AuditEvent.objects.filter(action="silence.end").exists()


def test_a_viewer_cannot_create_silences(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("admin:alerts_silence_add")).status_code == 403


def test_a_silence_must_name_something(service):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        Silence(reason="x", ends_at=timezone.now() + timedelta(hours=1)).full_clean()


def test_rule_edits_are_audited(client, admin_user):
    rule = AlertRule.objects.get(name__startswith="MEDIUM")
    client.force_login(admin_user)
    response = client.post(reverse("admin:alerts_alertrule_change", args=[rule.pk]), {
        "name": rule.name, "enabled": "on", "note": "", "min_level": "", "levels": ["MEDIUM",
                                                                                   "HIGH"],
        "category": "", "service": "", "operation": "", "environment": "",
        "channels": [c.pk for c in rule.channels.all()], "throttle_minutes": 30,
        "threshold_count": "", "threshold_minutes": ""})
    assert response.status_code == 302, response.content
    rule.refresh_from_db()
    assert rule.levels == ["MEDIUM", "HIGH"] and rule.throttle_minutes == 30
    assert AuditEvent.objects.filter(action="alert_rule.change").exists()


def test_the_alert_pages_render(client, admin_user, service, queue):
    entries(service)
    [alert] = evaluate(digest())
    client.force_login(admin_user)
    assert client.get(reverse("admin:alerts_alert_change", args=[alert.pk])).status_code == 200
    delivery = alert.deliveries.first()
    assert client.get(reverse("admin:alerts_alertdelivery_change",
                              args=[delivery.pk])).status_code == 200
    for query in ("?level=HIGH", "?status=UNDELIVERED", f"?channel={delivery.channel_id}",
                  "?range=1h"):
        assert client.get(reverse("admin:alerts_alert_changelist") + query).status_code == 200
        assert client.get(reverse("admin:alerts_alertdelivery_changelist")
                          + query.replace("level", "alert__level")).status_code == 200
