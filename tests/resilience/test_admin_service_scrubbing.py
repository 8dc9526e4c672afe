"""A service's data scrubbing settings on its admin page: edited, validated, audited."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from resilience.models import AuditEvent, Service

pytestmark = pytest.mark.django_db


def change_url(service: Service) -> str:
    return reverse("admin:resilience_service_change", args=[service.pk])


def form(service: Service, **changes) -> dict:
    """The change form as the page posts it (an unticked box is simply not sent)."""
    data = {
        "name": service.name, "slug": service.slug, "description": service.description,
        "scrub_sensitive_fields": service.scrub_sensitive_fields,
        "scrub_safe_fields": service.scrub_safe_fields,
        "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0",
        "keys-MIN_NUM_FORMS": "0", "keys-MAX_NUM_FORMS": "1000",
    }
    if service.scrub_data:
        data["scrub_data"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_a_new_service_scrubs_by_default_and_the_page_shows_the_settings(admin_client):
    service = Service.objects.create(name="shop", slug="shop")
    assert service.scrub_data
    content = admin_client.get(change_url(service)).content.decode()
    assert "Data scrubbing" in content
    for field in ("scrub_data", "scrub_sensitive_fields", "scrub_safe_fields"):
        assert f'name="{field}"' in content


def test_a_change_is_saved_and_audited_with_what_it_was(admin_client, admin_user, service):
    response = admin_client.post(change_url(service), form(
        service, scrub_data=None, scrub_sensitive_fields="ssn\ndate_of_birth",
        scrub_safe_fields="author",
    ))
    assert response.status_code == 302, response.content.decode()[:2000]
    service.refresh_from_db()
    assert (service.scrub_data, service.scrub_safe_fields) == (False, "author")
    audit = AuditEvent.objects.get(action="service.scrubbing")
    assert (audit.actor, audit.via, audit.target_id) == (admin_user, "admin", str(service.pk))
    assert audit.detail == {"service": service.slug, "changed": {
        "scrub_data": {"from": True, "to": False},
        "scrub_sensitive_fields": {"from": "", "to": "ssn\ndate_of_birth"},
        "scrub_safe_fields": {"from": "", "to": "author"},
    }}
    assert LogEntry.objects.filter(object_id=str(service.pk)).exists()


def test_saving_without_touching_scrubbing_audits_nothing_about_it(admin_client, service):
    response = admin_client.post(change_url(service), form(service, description="the shop"))
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="service.scrubbing").exists()


def test_a_new_service_created_with_scrubbing_off_is_audited(admin_client):
    add = reverse("admin:resilience_service_add")
    response = admin_client.post(add, {
        "name": "legacy", "slug": "legacy", "description": "",
        "scrub_sensitive_fields": "", "scrub_safe_fields": "",
        "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0",
        "keys-MIN_NUM_FORMS": "0", "keys-MAX_NUM_FORMS": "1000",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    audit = AuditEvent.objects.get(action="service.scrubbing")
    assert audit.detail["changed"] == {"scrub_data": {"from": True, "to": False}}


def test_an_overlong_list_is_refused(admin_client, service):
    names = "\n".join(f"field_{n}" for n in range(201))
    response = admin_client.post(change_url(service), form(service, scrub_safe_fields=names))
    assert response.status_code == 200
    assert "At most 200 names." in response.content.decode()
    service.refresh_from_db()
    assert service.scrub_safe_fields == ""
