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


def test_a_faultline_variable_sets_its_knob_and_settings_faultline_wins(settings, monkeypatch):
    monkeypatch.setenv("FAULTLINE_RETRY_MAX_ATTEMPTS", "7")
    settings.FAULTLINE = {}
    assert conf.get("RETRY_MAX_ATTEMPTS") == 7
    settings.FAULTLINE = {"RETRY_MAX_ATTEMPTS": 2}
    assert conf.get("RETRY_MAX_ATTEMPTS") == 2


def test_every_knob_can_be_set_from_the_environment():
    samples = {bool: ("false", "true"), int: ("0", "41"), float: ("0.5", "41.5"),
               str: ("", "x"), list: ("", "a,b")}
    for name, default in conf.DEFAULTS.items():
        variable = conf.ENV_PREFIX + name
        read = {raw: conf.from_environment(env={variable: raw})[name]
                for raw in samples[type(default)]}
        assert len(set(map(repr, read.values()))) == 2, name
        assert all(type(value) is type(default) for value in read.values()), name


@pytest.mark.parametrize(("name", "raw", "expected"), [
    ("INGEST_MAX_BATCH", " 250 ", 250),
    ("AUTH_CACHE_SECONDS", "2", 2.0),
    ("BACKOFF_FULL_JITTER", "TRUE", True),
    ("CLASSIFY_BY_CAUSE", "off", False),
    ("GUARD_RETRYABLE_CODES", "500,ECONNRESET", ["500", "ECONNRESET"]),
    ("OUTBOUND_ALLOWED_NETWORKS", "", []),
    ("ERROR_CRITICAL_LOG_PATH", "", ""),
    ("ALERT_PRODUCT_NAME", "Orders API", "Orders API"),
])
def test_a_variable_is_cast_to_its_defaults_type(name, raw, expected):
    value = conf.from_environment(env={f"FAULTLINE_{name}": raw})[name]
    assert (type(value), value) == (type(expected), expected)


@pytest.mark.parametrize(("name", "raw"), [
    ("INGEST_MAX_BATCH", "ten"),
    ("INGEST_MAX_BATCH", "5.0"),
    ("INGEST_MAX_BATCH", ""),
    ("AUTH_CACHE_SECONDS", "10s"),
    ("ALERT_ENABLED", "maybe"),
    ("ALERT_ENABLED", ""),
])
def test_a_malformed_variable_is_refused_by_name(name, raw):
    with pytest.raises(ImproperlyConfigured, match=f"FAULTLINE_{name}="):
        conf.from_environment(env={f"FAULTLINE_{name}": raw})


def test_a_malformed_variable_stops_start_up():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base",
           "FAULTLINE_CIRCUIT_WINDOW_SECONDS": "a minute"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: FAULTLINE_CIRCUIT_WINDOW_SECONDS='a minute'" in result.stderr


def test_local_paths_default_under_var_dir(settings, tmp_path):
    settings.FAULTLINE = {}
    settings.VAR_DIR = tmp_path
    assert conf.get("SPOOL_DIR") == str(tmp_path / "spool")
    assert conf.get("ERROR_CRITICAL_LOG_PATH") == str(tmp_path / "critical-errors.log")
    assert conf.get("ALERT_CRITICAL_LOG_PATH") == str(tmp_path / "critical-alerts.log")


def _production_knob(name: str, **extra: str) -> str:
    code = ("import django; django.setup(); from resilience import conf; "
            f"print(conf.get({name!r}))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_")}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings.production", "ALLOWED_HOSTS": "x",
            "SECRET_KEY": "p" * 60, **extra}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_production_commits_in_groups_unless_told_otherwise():
    assert _production_knob("INGEST_GROUP_COMMIT") == "True"
    assert _production_knob("INGEST_GROUP_COMMIT", FAULTLINE_INGEST_GROUP_COMMIT="false") == "False"


def test_dot_env_is_read_before_var_dir(tmp_path):
    # A copy of the settings module whose checkout is tmp_path, so its .env is ours alone.
    package = tmp_path / "config" / "settings"
    package.mkdir(parents=True)
    for init in (tmp_path / "config" / "__init__.py", package / "__init__.py"):
        init.write_text("")
    (package / "base.py").write_text((ROOT / "config/settings/base.py").read_text())
    (tmp_path / ".env").write_text(f"FAULTLINE_VAR_DIR={tmp_path / 'state'}\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("FAULTLINE_VAR_DIR", "SECRET_KEY", "DATABASE_URL")}
    result = subprocess.run(
        [sys.executable, "-c", "from config.settings import base; print(base.VAR_DIR); "
         "print(base.DATABASES['default']['NAME'])"],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(tmp_path)}, capture_output=True,
        text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "state"),
                                     str(tmp_path / "state" / "faultline.sqlite3")]
    assert (tmp_path / "state" / "secret_key").exists()
