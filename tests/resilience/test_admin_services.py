"""Services, their keys and the classification rules in the admin."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.test import override_settings
from django.urls import reverse

from resilience.ingest.keys import authenticate_api_key, hash_key
from resilience.models import ClassificationRule, ServiceKey
from tests.factories import ServiceFactory, service_key

pytestmark = pytest.mark.django_db

KEY_CHANGELIST = reverse("admin:resilience_servicekey_changelist")
SERVICE_CHANGELIST = reverse("admin:resilience_service_changelist")
RAW_KEY = re.compile(r"<code>(fl_[A-Za-z0-9_-]+)</code>")


def shown_keys(response) -> list[str]:
    return RAW_KEY.findall(response.content.decode())


def test_adding_a_key_shows_the_raw_key_once_and_stores_only_its_hash(
    admin_client, admin_user, service
):
    response = admin_client.post(
        reverse("admin:resilience_servicekey_add"),
        {"service": service.pk, "label": "ci", "rate_limit_per_minute": 600},
        follow=True,
    )

    (raw_key,) = shown_keys(response)
    key = ServiceKey.objects.get()
    assert (key.label, key.rate_limit_per_minute, key.created_by) == ("ci", 600, admin_user)
    assert key.key_hash == hash_key(raw_key)
    assert key.key_prefix == raw_key[:10]
    assert not ServiceKey.objects.filter(key_hash=raw_key).exists()
    assert authenticate_api_key(raw_key).key_id == key.pk
    # The redirect landed on the list; the key is never shown again.
    assert raw_key not in admin_client.get(KEY_CHANGELIST).content.decode()
    change = admin_client.get(reverse("admin:resilience_servicekey_change", args=[key.pk]))
    assert raw_key not in change.content.decode()
    assert LogEntry.objects.filter(object_id=str(key.pk), action_flag=1).exists()


def test_the_add_form_asks_only_for_service_label_and_rate_limit(admin_client):
    content = admin_client.get(reverse("admin:resilience_servicekey_add")).content.decode()
    assert 'name="service"' in content and 'name="label"' in content
    assert 'name="rate_limit_per_minute"' in content
    for field in ("key_hash", "key_prefix", "public_key"):
        assert f'name="{field}"' not in content


def test_the_service_action_creates_a_key(admin_client, service):
    response = admin_client.post(
        SERVICE_CHANGELIST,
        {"action": "create_api_key", "index": 0, "_selected_action": [service.pk]},
        follow=True,
    )
    (raw_key,) = shown_keys(response)
    assert ServiceKey.objects.get(service=service).key_hash == hash_key(raw_key)
    assert LogEntry.objects.filter(
        object_id=str(service.pk), change_message__contains="API key"
    ).exists()


@override_settings(EXTERNAL_URL="https://faults.example.com")
def test_the_key_page_shows_the_dsn_but_never_the_hash(admin_client, service):
    key, _ = service_key(service)
    content = admin_client.get(
        reverse("admin:resilience_servicekey_change", args=[key.pk])
    ).content.decode()
    assert f"https://{key.public_key}@faults.example.com/{service.pk}" in content
    assert key.key_hash not in content
    assert key.key_hash not in admin_client.get(KEY_CHANGELIST).content.decode()
    service_page = reverse("admin:resilience_service_change", args=[service.pk])
    assert (
        f"https://{key.public_key}@faults.example.com/{service.pk}"
        in admin_client.get(service_page).content.decode()
    )


def test_revoke_sets_who_and_when_and_logs_it(admin_client, admin_user, service):
    key, raw_key = service_key(service)
    admin_client.post(
        KEY_CHANGELIST, {"action": "revoke", "index": 0, "_selected_action": [key.pk]}
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.revoked_by == admin_user
    assert authenticate_api_key(raw_key).revoked
    assert LogEntry.objects.get(object_id=str(key.pk)).change_message == "Revoked (admin action)"


@pytest.mark.parametrize("user", ["viewer", "triager"])
def test_operators_see_keys_but_cannot_create_or_revoke_them(client, request, user, service):
    key, _ = service_key(service)
    client.force_login(request.getfixturevalue(user))
    assert client.get(KEY_CHANGELIST).status_code == 200
    assert 'name="action"' not in client.get(KEY_CHANGELIST).content.decode()
    client.post(KEY_CHANGELIST, {"action": "revoke", "index": 0, "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is None
    add = reverse("admin:resilience_servicekey_add")
    assert client.post(add, {"service": service.pk, "label": "x"}).status_code == 403
    client.post(
        SERVICE_CHANGELIST,
        {"action": "create_api_key", "index": 0, "_selected_action": [service.pk]},
    )
    assert ServiceKey.objects.count() == 1


def test_the_service_list_counts_active_keys(client, viewer):
    service = ServiceFactory(name="billing")
    service_key(service)
    client.force_login(viewer)
    response = client.get(SERVICE_CHANGELIST)
    assert response.status_code == 200
    # The `faultline` service (its own circuits and guard) exists from the migrations.
    (listed,) = [s for s in response.context["cl"].result_list if s.pk == service.pk]
    assert listed.active_keys == 1


def test_a_superuser_edits_rules_and_the_code_must_not_be_blank(admin_client):
    add = reverse("admin:resilience_classificationrule_add")
    data = {"category": "TRANSIENT", "severity": "LOW", "enabled": "on", "note": ""}
    response = admin_client.post(add, {**data, "code": "   "})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["code"]
    assert not ClassificationRule.objects.exists()

    admin_client.post(add, {**data, "code": " ECONNRESET "})
    assert ClassificationRule.objects.get().code == "ECONNRESET"


def test_a_viewer_sees_rules_but_cannot_change_them(client, viewer):
    rule = ClassificationRule.objects.create(code="E1", category="TRANSIENT", severity="LOW")
    client.force_login(viewer)
    assert client.get(reverse("admin:resilience_classificationrule_changelist")).status_code == 200
    url = reverse("admin:resilience_classificationrule_change", args=[rule.pk])
    assert client.get(url).status_code == 200
    assert (
        client.post(url, {"code": "E2", "category": "TRANSIENT", "severity": "LOW"}).status_code
        == 403
    )
    assert client.get(reverse("admin:resilience_classificationrule_add")).status_code == 403


def test_the_site_is_called_faultline(client, viewer):
    client.force_login(viewer)
    assert "Faultline" in client.get(reverse("admin:index")).content.decode()
