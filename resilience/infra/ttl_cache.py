"""A small per-process cache with a time to live, that remembers its last value.

Each entry is fresh for the TTL given when it is put (callers read it from resilience.conf
at that moment, so a changed setting applies at once). An expired entry is not dropped:
`last_known` still returns it, for callers that fail open on the last answer while the
database is unreachable (service keys, classification rules). cachetools' TTLCache evicts
expired entries, which is exactly what these callers must not lose.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

MISSING: Any = object()  # "no entry": a cached value may itself be None


class TtlCache:
    def __init__(self, *, max_entries: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def fresh(self, key: Hashable) -> Any:
        """The value put under `key` less than its TTL ago, else MISSING."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return MISSING
        return entry[1]

    def last_known(self, key: Hashable) -> Any:
        """The last value put under `key`, however old; MISSING when there is none."""
        entry = self._entries.get(key)
        return MISSING if entry is None else entry[1]

    def put(self, key: Hashable, value: Any, *, ttl: float) -> None:
        with self._lock:
            # Past the bound, start over: cheaper than tracking age, and the lookups it
            # saves are refilled within one TTL.
            if self._max_entries is not None and len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (self._clock() + ttl, value)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
