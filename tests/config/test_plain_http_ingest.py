"""Production redirects plain HTTP to HTTPS, except ingest: a client that follows a 301
turns its POST into a GET and the report is gone. The native API and the Sentry endpoints
are answered over plain HTTP; everything else is still redirected."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests import factories

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "x" * 30 + "-a-long-and-random-enough-production-secret-key"


@pytest.fixture(scope="module")
def production_redirect():
    """SECURE_SSL_REDIRECT and SECURE_REDIRECT_EXEMPT as config.settings.production sets them."""
    code = ("from django.conf import settings; "
            "print(repr((settings.SECURE_SSL_REDIRECT, settings.SECURE_REDIRECT_EXEMPT)))")
    env = {k: v for k, v in os.environ.items() if k not in ("SECURE_SSL_REDIRECT",)}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, capture_output=True,
        text=True, timeout=120,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.production",
             "ALLOWED_HOSTS": "testserver", "SECRET_KEY": GOOD_KEY},
    )
    assert result.returncode == 0, result.stderr
    redirect, exempt = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert redirect is True
    return exempt


@pytest.fixture
def redirecting(settings, production_redirect):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = production_redirect
    return settings


def test_native_ingest_over_plain_http_is_stored_not_redirected(redirecting, service_client):
    response = service_client.post("/api/v1/errors/", {"code": "ETIMEDOUT"},
                                   content_type="application/json")
    assert response.status_code == 201, response.status_code


@pytest.mark.parametrize("kind", ["store", "envelope"])
def test_sentry_ingest_over_plain_http_is_not_redirected(redirecting, service, kind):
    key, _ = factories.service_key(service)
    auth = f"Sentry sentry_version=7, sentry_key={key.public_key}"
    event = json.dumps({"event_id": "e" * 32, "message": "plain http"})
    body = event if kind == "store" else (
        json.dumps({"event_id": "e" * 32}) + "\n" + json.dumps({"type": "event"}) + "\n" + event)
    response = Client().post(f"/api/{service.pk}/{kind}/", data=body,
                             content_type="application/json", HTTP_X_SENTRY_AUTH=auth)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", ["/admin/", "/api/v1/groups/", "/api/v1/errors/1/"])
def test_everything_else_is_still_redirected(redirecting, db, path):
    response = Client().get(path)
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_the_probes_stay_exempt(redirecting, db):
    assert Client().get("/healthz").status_code == 200


def test_dead_letters_and_the_metrics_scrape_are_not_redirected(redirecting, service_client):
    response = service_client.post("/api/v1/dead-letters/",
                                   {"operation": "order.sync", "payload": {"id": 1},
                                    "reason": "gave up"}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert Client().get("/metrics").status_code != 301
