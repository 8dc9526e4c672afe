"""Faultline's own settings: one defaults dict, merged with settings.FAULTLINE.

An unknown key is an error at start-up rather than a silently ignored typo.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    "INGEST_MAX_BATCH": 1000,
    "INGEST_MAX_BODY_BYTES": 10 * 1024 * 1024,
    "INGEST_GROUP_COMMIT": False,
    "INGEST_GROUP_COMMIT_MAX_ROWS": 500,
    "RETRY_MAX_ATTEMPTS": 3,
    "BACKOFF_BASE_MS": 1000,
    "BACKOFF_FACTOR": 2.0,
    "BACKOFF_CAP_MS": 30_000,
    "BACKOFF_JITTER": 0.1,
    "BACKOFF_FULL_JITTER": False,
    "DIGEST_BATCH_SIZE": 1000,
    "AUTH_CACHE_SECONDS": 5.0,
    "RULES_CACHE_SECONDS": 10.0,
    # Circuit breakers (resilience/services/circuits.py); per-operation overrides live on
    # CircuitState and are read at most every CIRCUIT_SETTINGS_CACHE_SECONDS per process.
    "CIRCUIT_FAILURE_THRESHOLD": 5,
    "CIRCUIT_WINDOW_SECONDS": 60,
    "CIRCUIT_RECOVERY_TIMEOUT_SECONDS": 30,
    "CIRCUIT_HALF_OPEN_PROBES": 1,
    "CIRCUIT_PROBE_TIMEOUT_SECONDS": 10,
    "CIRCUIT_KEY_PREFIX": "faultline",
    "CIRCUIT_SETTINGS_CACHE_SECONDS": 5.0,
    # Outbound calls (resilience/outbound.py) and dead-letter replay.
    "OUTBOUND_TIMEOUT_SECONDS": 10.0,
    "REPLAY_BATCH_SIZE": 50,
    "REPLAY_RUN_SECONDS": 20.0,
    "REPLAY_CLAIM_TIMEOUT_SECONDS": 300,
}


_merged: dict[str, Any] | None = None


def get(name: str) -> Any:
    # Read on every request: merged once, and again whenever settings.FAULTLINE is replaced.
    global _merged
    if _merged is None:
        configured = getattr(settings, "FAULTLINE", {})
        unknown = set(configured) - set(DEFAULTS)
        if unknown:
            raise ImproperlyConfigured(
                f"Unknown FAULTLINE setting(s): {', '.join(sorted(unknown))}"
            )
        _merged = {**DEFAULTS, **configured}
    return _merged[name]


def _forget(*, setting: str, **kwargs) -> None:
    global _merged
    if setting == "FAULTLINE":
        _merged = None


setting_changed.connect(_forget)
