"""Secrets and browser-facing security settings: no known SECRET_KEY anywhere, production
refuses a development key, HSTS preload only on request, and a Content-Security-Policy under
which the admin and the API docs (Redoc, served from our own static files) still work."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from config.settings.base import INSECURE_KEY_PREFIX, _local_secret_key
from tests.browser.chromium import watch
from tests.campaigns.fixtures import restore_migrated_data  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "x" * 30 + "-a-long-and-random-enough-production-secret-key"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECURE_HSTS_PRELOAD")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=120,
    )


def _production_setting(name: str, **env: str) -> str:
    result = _manage(
        "shell", "-c", f"from django.conf import settings; print(settings.{name})",
        DJANGO_SETTINGS_MODULE="config.settings.production", ALLOWED_HOSTS="x",
        SECRET_KEY=GOOD_KEY, **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]  # after the shell's "objects imported" line


def test_without_secret_key_each_checkout_makes_its_own_random_key(tmp_path):
    first = _local_secret_key(tmp_path / "a" / "secret_key")
    assert first.startswith(INSECURE_KEY_PREFIX) and len(first) > 60
    assert _local_secret_key(tmp_path / "a" / "secret_key") == first  # kept: sessions survive
    assert _local_secret_key(tmp_path / "b" / "secret_key") != first  # nobody else's key
    assert stat.S_IMODE((tmp_path / "a" / "secret_key").stat().st_mode) == 0o600


def test_check_deploy_flags_the_fallback_key_of_the_base_settings(tmp_path):
    result = _manage("check", "--deploy", DJANGO_SETTINGS_MODULE="config.settings.base",
                     FAULTLINE_VAR_DIR=str(tmp_path))
    assert "security.W009" in result.stdout + result.stderr
    assert (tmp_path / "secret_key").read_text().startswith(INSECURE_KEY_PREFIX)


@pytest.mark.parametrize("key", ["", "   ", f"{INSECURE_KEY_PREFIX}{'k' * 60}"])
def test_production_refuses_to_start_with_an_empty_or_development_key(tmp_path, key):
    result = _manage("check", DJANGO_SETTINGS_MODULE="config.settings.production",
                     ALLOWED_HOSTS="x", SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is empty or a development key" in result.stderr


def test_production_refuses_the_key_the_base_settings_generated(tmp_path):
    generated = _local_secret_key(tmp_path / "secret_key")
    result = _manage("check", DJANGO_SETTINGS_MODULE="config.settings.production",
                     ALLOWED_HOSTS="x", SECRET_KEY=generated)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr


def test_hsts_preload_is_off_unless_asked_for_and_deploy_checks_still_pass():
    assert _production_setting("SECURE_HSTS_PRELOAD") == "False"
    assert _production_setting("SECURE_HSTS_PRELOAD", SECURE_HSTS_PRELOAD="true") == "True"
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     DJANGO_SETTINGS_MODULE="config.settings.production",
                     ALLOWED_HOSTS="faultline.example.com", SECRET_KEY=GOOD_KEY,
                     SECURE_HSTS_PRELOAD="true")
    assert result.returncode == 0, result.stdout + result.stderr


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split("; ") if part}


def test_every_page_carries_a_policy_that_allows_only_our_own_scripts(db):
    for url in ("/admin/login/", "/api/docs/", "/healthz", "/api/schema/"):
        policy = _policy(Client().get(url))
        assert policy["script-src"] == ["'self'"], url
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    # Redoc's search worker is a blob: URL, allowed on the docs page only.
    assert "blob:" in _policy(Client().get("/api/docs/"))["worker-src"]
    assert "worker-src" not in _policy(Client().get("/admin/login/"))


def test_the_api_docs_load_redoc_from_our_static_files(db):
    page = Client().get("/api/docs/").content.decode()
    assert "cdn.jsdelivr" not in page and "googleapis" not in page
    assert not re.findall(r"(?:src|href)=\"https?://", page)
    (script,) = re.findall(r'<script src="([^"]+)"', page)
    assert script.startswith("/static/drf_spectacular_sidecar/redoc/")
    served = Client().get(script)
    assert served.status_code == 200
    assert b"Redoc" in b"".join(served.streaming_content)


# live_server makes the test transactional: its flush would empty what the data migrations
# wrote (the role groups); restore_migrated_data puts that back for the tests after it.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("restore_migrated_data")
def test_the_api_docs_render_offline_under_the_policy(chromium, live_browser_server):
    """Headless Chromium, every request to anywhere but this server refused: Redoc renders
    the schema, and the policy blocks the one outside thing it asks for (Redocly's logo,
    an <img> that hides itself when it fails to load) and nothing else."""
    live_server = live_browser_server
    context = chromium.new_context()
    outside: list[str] = []

    def only_this_server(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector("h1:has-text('Faultline API')")
    # The operations are listed, and the search box (its blob: worker) answers.
    assert page.locator("text=/api/v1/errors/").count() > 0
    page.fill("input[placeholder='Search...']", "dead")
    page.wait_for_selector("[role=search] li, .search-results li, [data-role='search:results']")
    assert outside == []
    redocly_logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert [p for p in problems if redocly_logo not in p] == []
    assert page.locator(f"img[src='{redocly_logo}']").count() == 0  # gone after its error
    context.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("restore_migrated_data")
def test_the_admin_works_under_the_policy(chromium, live_browser_server):
    """A superuser's round of the admin: no page logs an error or a policy violation, and the
    admin's own scripts run (the user page's group chooser is built by SelectFilter2.js)."""
    from django.contrib.auth.models import User

    from tests.factories import DeadLetterFactory, ErrorGroupFactory

    live_server = live_browser_server
    admin = User.objects.create_superuser("root", password="pw-root-42")
    group = ErrorGroupFactory()
    DeadLetterFactory()
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems = watch(page)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "pw-root-42")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    for path in ("/admin/", f"/admin/resilience/errorgroup/{group.pk}/change/",
                 "/admin/resilience/errorgroup/", "/admin/resilience/deadletter/",
                 "/admin/resilience/servicekey/add/", "/admin/accounts/operatortoken/add/",
                 "/admin/axes/accessattempt/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/admin/auth/user/{admin.pk}/change/")
    page.wait_for_selector("#id_groups_from")  # made by the admin's script, not the HTML
    assert problems == []
    context.close()
