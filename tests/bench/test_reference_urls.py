"""bench/reference_settings.py and reference_urls.py: production plus a do-nothing view,
nothing else (bench/ingest.py serves every scenario with them)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import Resolver404, resolve

import config.urls
from bench import reference_urls

ROOT = Path(__file__).resolve().parents[2]

# Every setting of both modules, compared in a process of their own (production's need
# its environment).
SETTINGS_DIFF = """
import config.settings.production as production
import bench.reference_settings as reference
names = {n for n in dir(production) + dir(reference) if n.isupper()}
print(sorted(n for n in names if getattr(production, n, None) != getattr(reference, n, None)))
"""


def test_only_the_urlconf_differs_from_production_settings():
    env = {**os.environ, "SECRET_KEY": "x" * 30 + "-a-long-and-random-enough-secret-key",
           "ALLOWED_HOSTS": "127.0.0.1"}
    result = subprocess.run([sys.executable, "-c", SETTINGS_DIFF], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['ROOT_URLCONF']"


def test_the_urls_are_production_s_plus_the_noop_view():
    assert reference_urls.urlpatterns[1:] == config.urls.urlpatterns
    assert (reference_urls.handler404, reference_urls.handler500) == (
        config.urls.handler404, config.urls.handler500)
    assert resolve("/bench/noop/", urlconf="bench.reference_urls").func is reference_urls.noop
    with pytest.raises(Resolver404):
        resolve("/bench/noop/", urlconf="config.urls")


@override_settings(ROOT_URLCONF="bench.reference_urls")
def test_the_noop_view_answers_201_through_the_middleware_without_csrf(client):
    client = type(client)(enforce_csrf_checks=True)
    response = client.post("/bench/noop/", data=b'{"code": "x"}',
                           content_type="application/json")
    assert response.status_code == 201
    assert json.loads(response.content) == {"noop": True}
    assert response.headers["X-Frame-Options"] == "DENY"  # the middleware ran


@override_settings(ROOT_URLCONF="bench.reference_urls")
def test_production_urls_still_answer_as_before(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
