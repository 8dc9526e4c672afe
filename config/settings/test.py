"""Test settings: the same as base, with caches that make revocation and rule edits instant."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env

REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = "memory://"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
_TMP = Path(tempfile.gettempdir())
# Overrides of resilience/conf.py's knobs: they win over FAULTLINE_* in the environment.
FAULTLINE = {
    "AUTH_CACHE_SECONDS": 0,
    "RULES_CACHE_SECONDS": 0,
    "SCRUB_SETTINGS_CACHE_SECONDS": 0,
    # The spool in a temporary folder, drained by the tests themselves
    # (tests/resilience/test_spool.py).
    "SPOOL_DIR": str(_TMP / "faultline-test-spool"),
    "SPOOL_DRAIN_THREAD": False,
    # Sentry attachments on disk, likewise in a temporary folder.
    "ATTACHMENT_DIR": str(_TMP / "faultline-test-attachments"),
    # Undeliverable CRITICAL alerts from any test go to a temporary file, not var/.
    "ALERT_CRITICAL_LOG_PATH": str(_TMP / "faultline-test-critical.log"),
    # CRITICAL error entries logged by the digest, likewise.
    "ERROR_CRITICAL_LOG_PATH": str(_TMP / "faultline-test-errors.log"),
    # pytest-httpserver listens on loopback; the policy tests turn this off again.
    "OUTBOUND_ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
# /metrics and /readyz's details for the test client (127.0.0.1), as an operator's allow-list
# would; tests of the access rule itself (tests/resilience/test_secrets_visibility.py) set
# their own. The default outside tests is: nobody without METRICS_TOKEN.
METRICS_ALLOWED_IPS = ["127.0.0.1"]
# Serve static files from the finders: tests never run collectstatic.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
