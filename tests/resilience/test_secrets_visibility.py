"""Who sees what: DSNs only for those who may use them; /metrics never open just because the
peer is loopback (a same-host proxy is loopback too); /readyz's details (hosts, ports, error
texts) only for the scraper and staff."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import ServiceFactory, service_key

KEY_CHANGELIST = reverse("admin:resilience_servicekey_changelist")
EXTERNAL = "https://faults.example.com"


@pytest.fixture
def key(db):
    service = ServiceFactory(name="billing")
    return service_key(service, label="billing-prod")[0]


def pages(client, key) -> str:
    urls = [KEY_CHANGELIST, reverse("admin:resilience_servicekey_change", args=[key.pk]),
            reverse("admin:resilience_service_change", args=[key.service_id])]
    answers = [client.get(url) for url in urls]
    assert all(a.status_code == 200 for a in answers)
    return "".join(a.content.decode() for a in answers)


@override_settings(EXTERNAL_URL=EXTERNAL)
@pytest.mark.parametrize("role", ["viewer", "triager"])
def test_viewers_and_triagers_see_the_label_and_prefix_but_no_dsn(client, request, role, key):
    client.force_login(request.getfixturevalue(role))
    content = pages(client, key)
    assert "billing-prod" in content and key.key_prefix in content
    assert key.public_key not in content
    assert "faults.example.com" not in content and ">DSN<" not in content
    # Nor can they confirm a public key they found somewhere by searching for it.
    found = client.get(KEY_CHANGELIST, {"q": key.public_key}).context["cl"].result_list
    assert list(found) == []


@override_settings(EXTERNAL_URL=EXTERNAL)
def test_superusers_see_the_dsn(admin_client, key):
    content = pages(admin_client, key)
    assert f"https://{key.public_key}@faults.example.com/{key.service_id}" in content
    assert key.key_hash not in content


@override_settings(EXTERNAL_URL=EXTERNAL)
def test_the_view_dsn_permission_shows_it_to_an_operator(client, viewer, key):
    viewer.user_permissions.add(Permission.objects.get(codename="view_dsn",
                                                       content_type__app_label="accounts"))
    client.force_login(viewer)
    assert f"https://{key.public_key}@faults.example.com/{key.service_id}" in pages(client, key)


# /metrics


def scrape(**headers):
    return Client().get("/metrics", **headers)


def test_metrics_with_nothing_configured_answers_nobody_not_even_loopback(db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    for address in ("127.0.0.1", "::1", "10.0.0.5"):
        refused = scrape(REMOTE_ADDR=address)
        assert refused.status_code == 403
        assert b"METRICS_TOKEN" in refused.content


@pytest.mark.parametrize("header", [
    {"HTTP_X_FORWARDED_FOR": "198.51.100.7"},
    {"HTTP_FORWARDED": "for=198.51.100.7;proto=https"},
    {"HTTP_X_REAL_IP": "198.51.100.7"},
])
def test_an_allowed_address_speaking_for_someone_else_is_refused(db, settings, header):
    """nginx on the same host: every request comes from 127.0.0.1, carrying the client."""
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    assert scrape(REMOTE_ADDR="127.0.0.1").status_code == 200
    assert scrape(REMOTE_ADDR="127.0.0.1", **header).status_code == 403


def test_the_token_works_directly_and_through_a_proxy(db, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    settings.METRICS_ALLOWED_IPS = []
    assert scrape(HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    assert scrape(HTTP_AUTHORIZATION="Bearer s3cret-token",
                  HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 200
    assert scrape(HTTP_AUTHORIZATION="Bearer s3cret-tokeN").status_code == 403
    assert scrape(HTTP_AUTHORIZATION="s3cret-token").status_code == 403


# /readyz


@pytest.fixture
def redis_down(settings):
    settings.CELERY_BROKER_URL = "memory://"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.METRICS_TOKEN = "s3cret-token"
    settings.METRICS_ALLOWED_IPS = []


def test_readyz_tells_an_anonymous_caller_only_ok_or_fail(db, redis_down):
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "fail",
        "checks": {"database": "ok", "redis": "fail", "broker": "ok", "digest": "ok",
                   "spool": "ok"},
    }
    assert b"127.0.0.1" not in response.content and b":1" not in response.content
    # The same through a proxy from an address the allow-list would name.
    proxied = Client().get("/readyz", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert "failures" not in proxied.json()


def test_readyz_gives_the_details_to_the_scraper_and_to_staff(db, redis_down, viewer):
    scraper = Client().get("/readyz", HTTP_AUTHORIZATION="Bearer s3cret-token").json()
    assert scraper["checks"]["redis"].startswith("redis:")
    assert scraper["failures"] and "digest_lag_seconds" in scraper
    staff = Client()
    staff.force_login(viewer)
    body = staff.get("/readyz").json()
    assert body["checks"]["redis"].startswith("redis:") and "circuit_backend" in body


def test_readyz_all_ok_is_200_for_anyone(db, settings):
    settings.CELERY_BROKER_URL = "memory://"
    settings.METRICS_ALLOWED_IPS = []
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"
    assert set(response.json()["checks"].values()) == {"ok"}
