"""Faultline's own settings: one defaults dict, merged with settings.FAULTLINE.

An unknown key is an error at start-up rather than a silently ignored typo.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS: dict[str, Any] = {
    "INGEST_MAX_BATCH": 1000,
    "INGEST_MAX_BODY_BYTES": 10 * 1024 * 1024,
    "INGEST_GROUP_COMMIT": False,
    "INGEST_GROUP_COMMIT_MAX_ROWS": 500,
    "INGEST_GROUP_COMMIT_MAX_WAIT_MS": 2.0,
    "RETRY_MAX_ATTEMPTS": 3,
    "BACKOFF_BASE_MS": 1000,
    "BACKOFF_FACTOR": 2.0,
    "BACKOFF_CAP_MS": 30_000,
    "BACKOFF_JITTER": 0.1,
    "BACKOFF_FULL_JITTER": False,
    "DIGEST_BATCH_SIZE": 1000,
    "AUTH_CACHE_SECONDS": 5.0,
    "RULES_CACHE_SECONDS": 10.0,
}


def get(name: str) -> Any:
    configured = getattr(settings, "FAULTLINE", {})
    unknown = set(configured) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(f"Unknown FAULTLINE setting(s): {', '.join(sorted(unknown))}")
    return configured.get(name, DEFAULTS[name])
