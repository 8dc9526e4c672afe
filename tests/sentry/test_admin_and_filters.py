"""Sentry details on the admin pages; environment and release filters (admin and API)."""

import pytest
from django.test import Client

from resilience.digest.service import digest_batch
from resilience.models import ErrorGroup, ErrorLogEntry
from tests import factories
from tests.sentry.envelopes import envelope, exception_event


def send(service, key, event):
    response = Client().post(
        f"/api/{service.pk}/envelope/", data=envelope(("event", event)),
        content_type="application/x-sentry-envelope",
        HTTP_X_SENTRY_AUTH=f"Sentry sentry_version=7, sentry_key={key.public_key}",
    )
    assert response.status_code == 200, response.content


@pytest.fixture
def groups(service, sentry_key):
    """Two groups: ValueError seen in 1.0 (production), KeyError in 2.0 (staging)."""
    send(service, sentry_key, exception_event(
        type_="ValueError", release="shop@1.0", environment="production",
        server_name="web-3", user={"id": "u-1", "email": "u1@example.com"},
        request={"method": "POST", "url": "https://shop.example/orders"},
        tags={"team": "core"}, sdk={"name": "sentry.python", "version": "2.75.0"}))
    send(service, sentry_key, exception_event(type_="KeyError", release="shop@2.0",
                                              environment="staging"))
    digest_batch(limit=100)
    return ErrorGroup.objects.get(name="ValueError"), ErrorGroup.objects.get(name="KeyError")


def test_the_entry_page_shows_what_the_sdk_sent(admin_client, groups):
    entry = ErrorLogEntry.objects.get(name="ValueError")
    page = admin_client.get(f"/admin/resilience/errorlogentry/{entry.pk}/change/").content.decode()
    for text in ("Sentry SDK", "sentry.python 2.75.0", "web-3", "id=u-1",
                 "POST https://shop.example/orders", "team=core", "shop@1.0"):
        assert text in page, text


def test_the_group_page_shows_it_for_the_latest_occurrence(admin_client, groups):
    page = admin_client.get(f"/admin/resilience/errorgroup/{groups[0].pk}/change/")
    text = page.content.decode()
    assert "sentry.python 2.75.0" in text and "POST https://shop.example/orders" in text


def test_the_group_admin_filters_by_environment_and_release(admin_client, groups):
    by_release = admin_client.get("/admin/resilience/errorgroup/?release=shop%402.0")
    assert list(by_release.context["cl"].queryset) == [groups[1]]
    by_env = admin_client.get("/admin/resilience/errorgroup/?environment=production")
    assert list(by_env.context["cl"].queryset) == [groups[0]]


def test_the_group_api_filters_by_environment_and_release(service, groups):
    raw = factories.service_key(service)[1]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def ids(query):
        response = client.get(f"/api/v1/groups/?{query}")
        assert response.status_code == 200, response.content
        return [g["id"] for g in response.json()["results"]]

    assert ids("release=shop@1.0") == [groups[0].pk]
    assert ids("environment=staging") == [groups[1].pk]
    assert ids("release=nope") == []
    entries = client.get("/api/v1/errors/?release=shop@2.0").json()["results"]
    assert [e["event_id"] for e in entries] == [ErrorLogEntry.objects.get(name="KeyError").event_id]
