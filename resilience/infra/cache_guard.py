"""Failing open on Redis: an outage of a helper must not become an ingest outage.

Nothing needs Redis to store a report. The shared cache (rate-limit windows, pacing slots,
cached dashboard and /metrics figures) and the circuit store only make things cheaper or
fairer across processes, so when Redis is down each use goes on without it (budgets not
enforced, figures read from the database, pacing per process, circuits on their database
rows) and says so in `faultline_dependency_fail_open_total{dependency="redis", use=…}`.

One per-process breaker for the cache: after a failure the cache is not asked again for
CACHE_OUTAGE_RETRY_SECONDS, so a dead Redis costs one short timeout per process every few
seconds, not one per call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from resilience import conf
from resilience.observability.process_metrics import dependency_failed_open

log = logging.getLogger("faultline.cache")

T = TypeVar("T")
_WARN_EVERY_SECONDS = 60.0
_state = {"down_until": 0.0, "warned_at": -_WARN_EVERY_SECONDS}


def _errors() -> tuple[type[BaseException], ...]:
    from django_redis.exceptions import ConnectionInterrupted

    return (redis.RedisError, ConnectionInterrupted, OSError)


def fail_open_counted(use: str, dependency: str = "redis") -> None:
    dependency_failed_open(dependency=dependency, use=use)


def cache_down() -> bool:
    """A cache failure was seen by this process less than the retry interval ago."""
    return time.monotonic() < _state["down_until"]


def cache_failed(exc: BaseException) -> None:
    now = time.monotonic()
    _state["down_until"] = now + conf.get("CACHE_OUTAGE_RETRY_SECONDS")
    if now - _state["warned_at"] >= _WARN_EVERY_SECONDS:
        _state["warned_at"] = now
        log.warning("the cache (Redis) is unreachable (%s); going on without it", exc)


def cache_call(use: str, call: Callable[[], T], *, default: T) -> T:
    """`call()`, or `default` (counted) when the cache is down or fails now."""
    if cache_down():
        fail_open_counted(use)
        return default
    try:
        return call()
    except _errors() as exc:
        cache_failed(exc)
        fail_open_counted(use)
        return default


def cache_guard_reset() -> None:
    """Forget an outage seen by this process (tests; the next call asks the cache)."""
    _state["down_until"] = 0.0
    _state["warned_at"] = -_WARN_EVERY_SECONDS
