"""Settings: production passes the deploy checks; Faultline's own knobs reject typos."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from resilience import conf

ROOT = Path(__file__).resolve().parents[2]


def test_production_settings_pass_check_deploy():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 30 + "-a-long-and-random-enough-production-secret-key",
        "ALLOWED_HOSTS": "faultline.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings.production", "ALLOWED_HOSTS": "x"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_an_unknown_faultline_setting_is_an_error(settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_MAX_BACTH": 5}
    with pytest.raises(ImproperlyConfigured, match="INGEST_MAX_BACTH"):
        conf.get("INGEST_MAX_BATCH")


def test_a_setting_left_out_takes_its_default(settings):
    settings.FAULTLINE = {}
    assert conf.get("RETRY_MAX_ATTEMPTS") == 3
