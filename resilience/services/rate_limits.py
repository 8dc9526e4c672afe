"""Per-key rate limits: a fixed one-minute window counted in the shared cache.

`cache.add` creates the window's counter and `cache.incr` bumps it; both are atomic on
Redis (SET NX, INCRBY), so every web process on every machine counts against one number.
Without Redis the cache is per process, and so is the limit. A refused request gives its
count back, so a batch too big for what is left does not use the window up for others.
"""

import contextlib
import time

from django.core.cache import cache

WINDOW_SECONDS = 60


def _cache_key(key_id: int, window: int) -> str:
    return f"ratelimit:key:{key_id}:{window}"


def rate_limit_consume(
    *, key_id: int, limit: int | None, cost: int = 1, now: float | None = None
) -> int | None:
    """Count `cost` reports against the key's current minute.

    Returns None when they fit (or the key has no limit), else the seconds until the
    window ends (at least 1): the caller answers 429 with Retry-After.
    """
    if not limit or cost <= 0:
        return None
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    name = _cache_key(key_id, window)
    cache.add(name, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(name, cost)
    except ValueError:  # the counter expired between add and incr
        cache.add(name, cost, timeout=WINDOW_SECONDS + 5)
        count = cost
    if count <= limit:
        return None
    with contextlib.suppress(ValueError):  # the window ended meanwhile
        cache.decr(name, cost)
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
