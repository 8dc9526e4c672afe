"""Faultline's own settings, written once: DEFAULTS below.

Each key is read from the environment as FAULTLINE_<KEY>, cast to its default's type (int,
float, bool, str, or a comma-separated list); a malformed value stops start-up naming the
variable. settings.FAULTLINE (the test settings, tests) overrides both. An unknown key
there is an error too, rather than a silently ignored typo. .env.example lists every key
with its default (tests/config/test_env_example.py holds it to DEFAULTS).
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import environ
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

ENV_PREFIX = "FAULTLINE_"

DEFAULTS: dict[str, Any] = {
    "INGEST_MAX_BATCH": 1000,
    "INGEST_MAX_BODY_BYTES": 10 * 1024 * 1024,
    # Sentry SDK endpoints (resilience/sentry/): the body as sent, once decompressed, and
    # one event item. Sentry itself allows 20 MB / 100 MB / 1 MB.
    "SENTRY_MAX_COMPRESSED_BYTES": 20 * 1024 * 1024,
    "SENTRY_MAX_DECOMPRESSED_BYTES": 50 * 1024 * 1024,
    "SENTRY_MAX_EVENT_BYTES": 1024 * 1024,
    # Sentry attachments (resilience/attachments/), kept on disk under ATTACHMENT_DIR: one
    # attachment, and all of one event's together; past either it is dropped and counted
    # (faultline_sentry_items_dropped_total{type="attachment"}), the envelope still 200.
    "ATTACHMENT_DIR": "var/attachments",
    "ATTACHMENT_MAX_BYTES": 1024 * 1024,
    "ATTACHMENT_EVENT_MAX_BYTES": 4 * 1024 * 1024,
    # Budgets per minute (resilience/ingest/rate_limits.py; 0 = no limit). Per key: reports
    # (native API reports, Sentry error events; a key's own "rate limit per minute"
    # replaces this default), dead letters created, circuit permit/outcome calls. Per client
    # address: requests refused for missing or wrong credentials (then answered 429).
    "RATE_LIMIT_KEY_REPORTS_PER_MINUTE": 10_000,
    "RATE_LIMIT_KEY_DEAD_LETTERS_PER_MINUTE": 600,
    "RATE_LIMIT_KEY_CIRCUIT_CALLS_PER_MINUTE": 60_000,
    # Sentry envelope items other than error events (dropped unread; their own budget, so
    # a traced app's transactions never use up its error budget).
    "RATE_LIMIT_KEY_OTHER_ITEMS_PER_MINUTE": 60_000,
    "RATE_LIMIT_IP_UNAUTHENTICATED_PER_MINUTE": 60,
    "INGEST_GROUP_COMMIT": False,
    "INGEST_GROUP_COMMIT_MAX_ROWS": 500,
    "RETRY_MAX_ATTEMPTS": 3,
    "BACKOFF_BASE_MS": 1000,
    "BACKOFF_FACTOR": 2.0,
    "BACKOFF_CAP_MS": 30_000,
    "BACKOFF_JITTER": 0.1,
    "BACKOFF_FULL_JITTER": False,
    # Beyond the seed: an unknown outer code takes the verdict of its nearest known cause.
    "CLASSIFY_BY_CAUSE": True,
    # The seed's RetryHandler.isRetryableErrorCode: what the in-process guard retries.
    "GUARD_RETRYABLE_CODES": [
        "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "ConnectionError", "TimeoutError",
        "500", "502", "503", "504",
    ],
    "DIGEST_BATCH_SIZE": 1000,
    # Digest runs at once while a backlog remains: a run whose batch comes back full asks
    # for this many minus one more beside it (they claim other rows: SKIP LOCKED), so one
    # run's Python overlaps another's wait on PostgreSQL. 1 = one run at a time.
    "DIGEST_PARALLEL_RUNS": 2,
    # The seed's ErrorLogger.logToFile: CRITICAL entries, once digested, appended here as
    # JSON lines ("" = no file; every entry is still logged on `faultline.errors`).
    "ERROR_CRITICAL_LOG_PATH": "var/critical-errors.log",
    "AUTH_CACHE_SECONDS": 5.0,
    # The spool (resilience/ingest/spool/): where reports go while PostgreSQL is unavailable, and
    # its bound over all processes' segments ("" or 0 = no spool: such reports get a 503).
    "SPOOL_DIR": "var/spool",
    "SPOOL_MAX_BYTES": 256 * 1024 * 1024,
    # One drainer thread per web process writes the spool back (off: tests drain by hand).
    "SPOOL_DRAIN_THREAD": True,
    "RULES_CACHE_SECONDS": 10.0,
    # A service's scrubbing settings (resilience/ingest/scrubbing.py) reach other processes
    # within this long.
    "SCRUB_SETTINGS_CACHE_SECONDS": 5.0,
    # Redis down: this process goes on without the cache (fail open, counted) and does not
    # ask it again for this long (resilience/infra/cache_guard.py).
    "CACHE_OUTAGE_RETRY_SECONDS": 2.0,
    # Circuit breakers (resilience/circuits/services.py); per-operation overrides live on
    # CircuitState and are read at most every CIRCUIT_SETTINGS_CACHE_SECONDS per process.
    "CIRCUIT_FAILURE_THRESHOLD": 5,
    "CIRCUIT_WINDOW_SECONDS": 60,
    "CIRCUIT_RECOVERY_TIMEOUT_SECONDS": 30,
    "CIRCUIT_HALF_OPEN_PROBES": 1,
    "CIRCUIT_PROBE_TIMEOUT_SECONDS": 10,
    # Beyond the seed: failures age out of the window and a success in CLOSED changes
    # nothing (True: a success clears the counted failures, the seed's recordSuccess).
    "CIRCUIT_SUCCESS_RESETS_FAILURES": False,
    "CIRCUIT_KEY_PREFIX": "faultline",
    "CIRCUIT_SETTINGS_CACHE_SECONDS": 5.0,
    # A circuit ingest read OPEN (or FORCED_OPEN) is answered from this process's memory
    # for up to this long (never past its recovery timeout) instead of asking Redis: a
    # failure reported to an open circuit changes nothing. 0 = ask every time.
    "CIRCUIT_OPEN_MEMO_SECONDS": 1.0,
    # Circuits belong to a service: at most this many per service (0 = no limit; Faultline's
    # own are never limited). Past it a new operation is refused (409) or, on ingest, not
    # tracked ("circuit": "UNTRACKED").
    "CIRCUIT_MAX_PER_SERVICE": 1000,
    # Idle circuits (CLOSED, unused and unchanged this long) expire: their Redis keys by
    # TTL, their rows by the beat task circuits_expire_idle in batches (0 = never).
    "CIRCUIT_IDLE_EXPIRE_SECONDS": 7 * 24 * 3600,
    "CIRCUIT_EXPIRE_BATCH_SIZE": 1000,
    # /metrics exports per-circuit series only for circuits not CLOSED, at most this many.
    "CIRCUIT_METRICS_MAX_CIRCUITS": 100,
    # Outbound calls (resilience/outbound/calls.py) and dead-letter replay.
    "OUTBOUND_TIMEOUT_SECONDS": 10.0,
    # The destination policy (outbound.py): only public addresses are called. True lets
    # private, loopback, unique-local and shared addresses through; the networks (CIDRs)
    # are allowed whatever they are (link-local/metadata only this way).
    "OUTBOUND_ALLOW_PRIVATE": False,
    "OUTBOUND_ALLOWED_NETWORKS": [],
    "REPLAY_BATCH_SIZE": 50,
    "REPLAY_RUN_SECONDS": 20.0,
    "REPLAY_CLAIM_TIMEOUT_SECONDS": 300,
    # Campaign lifecycle (campaigns/): the timer processor and the lifecycle event bus
    # (a Redis stream at settings.EVENT_BUS_URL, which defaults to REDIS_URL).
    "TIMER_PROCESSOR_BATCH_SIZE": 100,
    "EVENT_BUS_STREAM_PREFIX": "faultline",
    "EVENT_BUS_MAXLEN": 100_000,
    # Recovery procedures (recovery/), run every 5 minutes by celery-beat.
    "RECOVERY_TIMER_STUCK_SECONDS": 300,
    "RECOVERY_TIMER_RETRY_DELAY_SECONDS": 120,
    "RECOVERY_TIMER_MAX_RETRIES": 5,
    "RECOVERY_TIMER_OVERDUE_SECONDS": 60,
    # The seed's recoverStuckCampaigns: `end_time < NOW() - INTERVAL '5 minutes'`.
    "RECOVERY_CAMPAIGN_END_GRACE_SECONDS": 300,
    # Beyond the seed: an end timer FAILED with a retry still to come is left to finish
    # the campaign (False: only PENDING/RUNNING end timers count, as in the seed).
    "RECOVERY_CAMPAIGN_WAIT_FOR_END_RETRY": True,
    "RECOVERY_OUTBOX_BATCH_SIZE": 100,  # the seed's recoverEventQueue limit
    # Republish attempts before an outbox event is FAILED (the seed: 1, no retry).
    "RECOVERY_OUTBOX_MAX_ATTEMPTS": 10,
    # Beyond the seed: stop at the first failure so events reach the bus in order (False:
    # a failed event is passed over and the next one tried, as in the seed).
    "RECOVERY_OUTBOX_KEEP_ORDER": True,
    # The seed's `timer.execute` fallback: FAILED, retried after 5 minutes, with the
    # message "Execution failed, scheduled for retry" (+ the error when DETAIL is True).
    "TIMER_FALLBACK_RETRY_DELAY_SECONDS": 300,
    "TIMER_FALLBACK_ERROR_DETAIL": False,
    # Beyond the seed: an illegal lifecycle transition is not rescheduled (it would be
    # just as illegal later). True: rescheduled like any other failure, as in the seed.
    "TIMER_FALLBACK_RETRY_ILLEGAL_TRANSITIONS": False,
    "RECOVERY_REPLAY_BATCH_SIZE": 500,
    # Beyond the seed: a DEAD_LETTER decision with nothing to replay (no payload, or no
    # operation to find a replay target by) makes no dead letter; its group is marked
    # "needs manual intervention" and the seed's alert is still raised. False: every
    # DEAD_LETTER decision becomes a dead letter, as in the seed.
    "DEAD_LETTER_REQUIRES_PAYLOAD": True,
    "RECOVERY_DEFERRED_WRITE_EXPIRE_DAYS": 7,
    # Clean-up (recovery/cleanup.py), daily: ages in days; deletes in batches of this size.
    "RETENTION_ENTRIES_DAYS": 30,
    "RETENTION_METRICS_DAYS": 400,
    "RETENTION_TIMERS_DAYS": 7,
    "RETENTION_OUTBOX_DAYS": 7,
    "RETENTION_DEAD_LETTERS_DAYS": 30,
    "RETENTION_RECOVERY_RUNS_DAYS": 90,
    "RETENTION_BATCH_SIZE": 5000,
    # Metrics (/api/v1/metrics/, the dashboard). False restores the seed's readings: a
    # range it cannot read is 1 hour; a recovery rate with no outcome reported is 0.
    "METRICS_REFUSE_BAD_RANGE": True,
    "METRICS_NO_OUTCOMES_AS_NULL": True,
    # Alerts (alerts/): evaluation after the digest, delivery on the "alerts" queue.
    "ALERT_ENABLED": True,
    "ALERT_DIGEST_LAG_SECONDS": 300,
    "ALERT_CRITICAL_LOG_PATH": "var/critical-alerts.log",
    "ALERT_HTTP_TIMEOUT_SECONDS": 10.0,
    "ALERT_MAX_ATTEMPTS": 5,
    "ALERT_BACKOFF_BASE_SECONDS": 30,
    "ALERT_BACKOFF_CAP_SECONDS": 1800,
    "ALERT_CLAIM_TIMEOUT_SECONDS": 300,
    # Alert evaluation and delivery tasks retry database, cache and broker outages this
    # often, waiting BASE seconds doubling up to CAP (defaults: about 7 minutes in all),
    # before the critical log (evaluation) or the sweep (delivery) takes over.
    "ALERT_TASK_MAX_RETRIES": 12,
    "ALERT_TASK_RETRY_BASE_SECONDS": 1.0,
    "ALERT_TASK_RETRY_CAP_SECONDS": 60.0,
    "ALERT_THRESHOLD_MAX_COUNT": 10_000,
    # The service name in alerts about Faultline itself and its in-process guard (the
    # seed's email subject says "[HIGH] Campaign Lifecycle Service Alert").
    "ALERT_PRODUCT_NAME": "Campaign Lifecycle Service",
    # False: every alert is sent, as the seed's AlertSystem does (no throttle window).
    "ALERT_THROTTLE_ENABLED": True,
    # Dead-letter alerts per service and rule within the rule's throttle window, whatever
    # the operations; the rest are counted into the last one (0: no cap).
    "ALERT_DEAD_LETTER_MAX_PER_SERVICE": 5,
    # A Sentry message (capture_message, a log record; not an exception) below this level
    # (debug, info, warning, error, fatal) raises no "New error" alert for its new group.
    "ALERT_MIN_MESSAGE_LEVEL": "warning",
}


# Defaults written "var/…" live under settings.VAR_DIR (FAULTLINE_VAR_DIR), wherever the
# process was started from; a value from the environment is taken as given.
UNDER_VAR_DIR = frozenset({"ERROR_CRITICAL_LOG_PATH", "SPOOL_DIR", "ALERT_CRITICAL_LOG_PATH",
                           "ATTACHMENT_DIR"})

# django-environ reads any unknown word as False and drops letters from a float ("10s" is
# 10.0); a typo in a knob should stop start-up instead.
_TRUE = frozenset(environ.Env.BOOLEAN_TRUE_STRINGS)
_FALSE = frozenset({"false", "off", "no", "n", "f", "0"})


def env_cast(*, variable: str, raw: str, default: Any) -> Any:
    """`raw` (the environment's text) as the type of `default`, or ImproperlyConfigured."""
    text = raw.strip()
    try:
        if isinstance(default, bool):  # before int: a bool is an int
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError("expected true or false")
        if isinstance(default, int):
            return environ.Env.parse_value(text, int)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, list):
            return environ.Env.parse_value(raw, list)
        return environ.Env.parse_value(raw, str)
    except ValueError as exc:
        kind = "a list" if isinstance(default, list) else type(default).__name__
        raise ImproperlyConfigured(
            f"{variable}={raw!r} is not a valid {kind} ({exc}); "
            f"unset it for the default, {default!r}."
        ) from None


def from_environment(*, env: Mapping[str, str]) -> dict[str, Any]:
    """The FAULTLINE_<KEY> variables set in `env`, cast; unset keys are left out."""
    return {
        name: env_cast(variable=ENV_PREFIX + name, raw=env[ENV_PREFIX + name], default=default)
        for name, default in DEFAULTS.items()
        if ENV_PREFIX + name in env
    }


def defaults(*, var_dir: Path | str) -> dict[str, Any]:
    """DEFAULTS with the "var/…" paths placed under `var_dir`."""
    return {
        name: str(Path(var_dir) / Path(value).relative_to("var"))
        if name in UNDER_VAR_DIR and value else value
        for name, value in DEFAULTS.items()
    }


_merged: dict[str, Any] | None = None


def _merge() -> dict[str, Any]:
    configured = getattr(settings, "FAULTLINE", {})
    unknown = set(configured) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown FAULTLINE setting(s): {', '.join(sorted(unknown))}"
        )
    return {
        **defaults(var_dir=getattr(settings, "VAR_DIR", "var")),
        **from_environment(env=os.environ),
        **configured,
    }


def get(name: str) -> Any:
    # Read on every request: merged once, and again whenever settings.FAULTLINE is replaced.
    global _merged
    if _merged is None:
        _merged = _merge()
    return _merged[name]


def validate() -> None:
    """Merge once at app start-up, so a malformed or unknown setting stops the process.
    Nothing is kept: a process may still replace settings.FAULTLINE before its first get()
    (the tests' worker processes do, without Django's setting_changed signal)."""
    _merge()


def _forget(*, setting: str, **kwargs) -> None:
    global _merged
    if setting in ("FAULTLINE", "VAR_DIR"):
        _merged = None


setting_changed.connect(_forget)
