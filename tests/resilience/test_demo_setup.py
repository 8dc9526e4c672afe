"""`make run`'s demo set-up: an operator, a service, and a key that really reports; the
secrets are printed once and kept nowhere in clear."""

import re
from io import StringIO

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from resilience.ingest.keys import authenticate_api_key
from resilience.models import ServiceKey


def _run(settings, tmp_path, *args) -> str:
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("demo_setup", *args, stdout=out)
    return out.getvalue()


def _secrets(output: str) -> tuple[str, str]:
    password = re.search(r"Login: +operator / (\S+)", output).group(1)
    raw_key = re.search(r"API key: +(fl_\S+)", output).group(1)
    return password, raw_key


def _nothing_kept_in_clear(tmp_path, *secrets: str) -> None:
    for path in tmp_path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(s.encode() in content for s in secrets), path


def test_it_prints_a_login_and_a_curl_that_works(db, settings, tmp_path):
    output = _run(settings, tmp_path)
    password, raw_key = _secrets(output)
    assert "curl -s -X POST" in output and f"Bearer {raw_key}" in output
    assert "DSN:" in output and "only hashes of it are kept" in output
    assert User.objects.get(username="operator").check_password(password)
    _nothing_kept_in_clear(tmp_path, password, raw_key)

    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    curl_body = output.split("-d '", 1)[1].split("'", 1)[0]
    response = client.post("/api/v1/errors/", data=curl_body, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["strategy"] == "RETRY"


def test_running_it_again_reuses_both_prints_no_secret_and_says_how_to_reset(
    db, settings, tmp_path
):
    password, raw_key = _secrets(_run(settings, tmp_path))
    again = _run(settings, tmp_path)
    assert password not in again and raw_key not in again
    assert "Login:     operator (password as printed when it was set)" in again
    assert f"API key:   {raw_key[:10]}…" in again and "<the demo API key>" in again
    assert "manage.py demo_setup --reset" in again
    assert ServiceKey.objects.count() == 1
    assert User.objects.get(username="operator").check_password(password)
    assert authenticate_api_key(raw_key).revoked is False


def test_reset_prints_a_new_password_and_key_and_revokes_the_old_key(db, settings, tmp_path):
    old_password, old_key = _secrets(_run(settings, tmp_path))
    password, raw_key = _secrets(_run(settings, tmp_path, "--reset"))
    assert (password, raw_key) != (old_password, old_key)
    user = User.objects.get(username="operator")
    assert user.check_password(password) and not user.check_password(old_password)
    assert authenticate_api_key(old_key).revoked
    assert not authenticate_api_key(raw_key).revoked
    _nothing_kept_in_clear(tmp_path, password, raw_key, old_password, old_key)


def test_the_clear_file_of_earlier_versions_is_removed(db, settings, tmp_path):
    legacy = tmp_path / "demo_credentials.json"
    legacy.write_text('{"password": "old", "api_key": "fl_old"}')
    output = _run(settings, tmp_path)
    assert not legacy.exists()
    assert "Removed var/demo_credentials.json" in output
