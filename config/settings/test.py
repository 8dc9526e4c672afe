"""Test settings: the same as base, with caches that make revocation and rule edits instant."""

from .base import *  # noqa: F403
from .base import FAULTLINE, env

REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = "memory://"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
FAULTLINE["AUTH_CACHE_SECONDS"] = 0
FAULTLINE["RULES_CACHE_SECONDS"] = 0
# Undeliverable CRITICAL alerts from any test go to a temporary file, not var/.
FAULTLINE["ALERT_CRITICAL_LOG_PATH"] = str(
    __import__("pathlib").Path(__import__("tempfile").gettempdir()) / "faultline-test-critical.log"
)
# CRITICAL error entries logged by the digest, likewise.
FAULTLINE["ERROR_CRITICAL_LOG_PATH"] = str(
    __import__("pathlib").Path(__import__("tempfile").gettempdir()) / "faultline-test-errors.log"
)
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Serve static files from the finders: tests never run collectstatic.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
