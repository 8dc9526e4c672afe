"""Asking for a digest run after a commit, coalesced so a burst schedules one run.

`transaction.on_commit(task.delay)` is not durable (the broker may be down, the process may
die), so this is only the fast path: the beat sweep (resilience.tasks.digest_sweep) picks
up whatever a lost message left pending.
"""

import contextlib
import logging
import time

from django.core.cache import cache

log = logging.getLogger(__name__)

SCHEDULED_KEY = "faultline:digest-scheduled"
# While this key lives, further commits do not enqueue another run; the running digest
# deletes it as it starts, so rows committed during a run get a run of their own.
COALESCE_SECONDS = 10
# Each process asks the shared cache at most this often, so a busy web process does not add
# a cache round trip to every commit. Worst case, rows committed just after a run started
# wait for the next commit or the beat sweep.
LOCAL_INTERVAL_SECONDS = 0.5
_last_asked = 0.0


def digest_schedule() -> None:
    from resilience import tasks

    global _last_asked
    now = time.monotonic()
    if now - _last_asked < LOCAL_INTERVAL_SECONDS:
        return
    _last_asked = now
    try:
        if not cache.add(SCHEDULED_KEY, 1, timeout=COALESCE_SECONDS):
            return
    except Exception:  # noqa: BLE001 - a cache outage must not stop the enqueue
        log.warning("cache unavailable; scheduling a digest run without coalescing")
    try:
        tasks.digest_pending.apply_async(retry=False)
    except Exception:  # noqa: BLE001 - the beat sweep covers a broker outage
        log.warning("could not enqueue a digest run; the periodic sweep will pick it up")
        with contextlib.suppress(Exception):
            cache.delete(SCHEDULED_KEY)


def digest_claimed_schedule_slot() -> None:
    """Called by a starting digest run: later commits may schedule again."""
    try:
        cache.delete(SCHEDULED_KEY)
    except Exception:  # noqa: BLE001
        log.warning("cache unavailable while starting a digest run")
