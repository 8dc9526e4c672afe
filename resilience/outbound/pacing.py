"""Pacing: at most `rate` calls per second to one destination, across every process.

Time is cut into slots of ``1 / rate`` seconds. A caller reserves the first free slot
after "now" with the cache's atomic ``add`` (SET NX on Redis: exactly one caller, in any
process, gets a given slot) and sleeps until that slot begins. Callers therefore go out
evenly spaced, never two in one slot, however many workers replay at once; the SQS
"redrive at a chosen rate" behaviour.

Across processes this needs a shared cache: with ``REDIS_URL`` set, Django's default cache
is Redis and the limit holds for every web and worker process on every machine. Without
it (the embedded default) the cache is per process, so the limit holds per process; run
one replay worker there, as ``make run`` does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from django.core.cache import BaseCache
from django.core.cache import cache as default_cache
from django.core.cache.backends.locmem import LocMemCache

from resilience.infra.cache_guard import cache_call

KEY_PREFIX = "pace"
# A caller that would have to wait longer than this gives up (and says so); the replay
# task then re-queues the rest of its batch instead of pinning a worker.
DEFAULT_MAX_WAIT_SECONDS = 30.0


# Redis down: slots are reserved in this process only (fail open, counted), so the rate
# holds per process until the shared cache answers again.
_local = LocMemCache("faultline-pacing", {"MAX_ENTRIES": 10_000})
_UNREACHABLE = object()


class PacingTimeout(Exception):
    """No free slot within max_wait."""


def _reserve(store: BaseCache, name: str, ttl: int) -> bool:
    taken = cache_call("pacing", lambda: store.add(name, 1, timeout=ttl),
                       default=_UNREACHABLE)
    if taken is _UNREACHABLE:
        return _local.add(name, 1, timeout=ttl)
    return bool(taken)


def acquire(
    key: str,
    rate_per_second: float,
    *,
    cache: BaseCache | None = None,
    max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Reserve the next free slot for ``key`` and wait for it; returns the slot start time.

    ``clock`` must be wall-clock time shared by all processes (slots are numbered from the
    Unix epoch); hosts are expected to run NTP, and skew only shifts a caller's slot.
    """
    if rate_per_second <= 0:
        raise ValueError("rate_per_second must be positive")
    store = cache or default_cache
    width = 1.0 / rate_per_second
    now = clock()
    slot = math.floor(now / width) + 1  # the next slot to begin: spacing holds from call one
    last_slot = math.floor((now + max_wait) / width)
    while slot <= last_slot:
        start = slot * width
        # A reservation must outlive its slot (a little more, for callers whose clock is
        # behind), or a late caller could take the same slot again.
        ttl = math.ceil(start - now + width) + 2
        if _reserve(store, f"{KEY_PREFIX}:{key}:{slot}", ttl):
            delay = start - clock()
            if delay > 0:
                sleep(delay)
            return start
        slot += 1
    raise PacingTimeout(f"no free slot for {key!r} within {max_wait:g}s")
