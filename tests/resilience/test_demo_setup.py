"""`make run`'s demo set-up: an operator, a service, and a key that really reports."""

import json
from io import StringIO

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from resilience.models import ServiceKey


def _run(settings, tmp_path) -> str:
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("demo_setup", stdout=out)
    return out.getvalue()


def test_it_prints_a_login_and_a_curl_that_works(db, settings, tmp_path):
    output = _run(settings, tmp_path)
    state = json.loads((tmp_path / "demo_credentials.json").read_text())
    assert f"operator / {state['password']}" in output
    assert "curl -s -X POST" in output and state["api_key"] in output
    assert "DSN:" in output
    assert User.objects.get(username="operator").check_password(state["password"])

    client = Client(HTTP_AUTHORIZATION=f"Bearer {state['api_key']}")
    curl_body = output.split("-d '", 1)[1].split("'", 1)[0]
    response = client.post("/api/v1/errors/", data=curl_body, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["strategy"] == "RETRY"


def test_running_it_again_reuses_the_account_and_key(db, settings, tmp_path):
    _run(settings, tmp_path)
    first = (tmp_path / "demo_credentials.json").read_text()
    _run(settings, tmp_path)
    assert (tmp_path / "demo_credentials.json").read_text() == first
    assert ServiceKey.objects.count() == 1
