"""Asking for a digest run after a commit, coalesced so a burst schedules one run.

`transaction.on_commit(task.delay)` is not durable (the broker may be down, the process may
die), so this is only the fast path: the beat sweep (resilience.tasks.digest_sweep, every
10 s) and the worker's wake-up on (re)connect (config/celery_app.py) pick up whatever a
lost message left pending.

The broker is never asked on the caller's thread. `digest_schedule()` runs on the
committer thread, which writes every request's rows: with the broker unreachable a publish
blocked it 6 s per attempt and ingest stopped for the whole outage (issue 12). It only
sets a flag; one scheduler thread per process does the asking, so any number of wake-ups
while it is busy (or while the broker is down) collapse into one publish.
"""

import contextlib
import logging
import os
import threading
import time

from django.core.cache import cache

from resilience.outbound import calls as outbound

log = logging.getLogger(__name__)

# Sent by name (resilience/tasks.py registers it under this name): tasks import this
# module, never the reverse.
DIGEST_TASK = "resilience.tasks.digest_pending"

SCHEDULED_KEY = "faultline:digest-scheduled"
# While this key lives, further commits do not enqueue another run; the running digest
# deletes it as it starts, so rows committed during a run get a run of their own. Short,
# because a message lost with the broker leaves the key behind until it expires.
COALESCE_SECONDS = 10
# Each process asks the shared cache at most this often, so a busy web process does not add
# a cache round trip to every commit (the scheduler thread waits the rest of it out).
LOCAL_INTERVAL_SECONDS = 0.5
# After a failed publish the scheduler thread waits this long before asking again: the
# broker is down and the sweep will cover what is pending once it is back.
FAILURE_PAUSE_SECONDS = 2.0
_last_asked = 0.0


def digest_schedule() -> None:
    """Ask for a digest run. Never blocks and never raises: it wakes this process's
    scheduler thread, which publishes the run."""
    _scheduler().wake()


def digest_schedule_now() -> bool:
    """Publish a digest run unless one is already queued. Returns False when the broker
    refused it (the sweep covers the entries). May block for the broker's timeouts: call it
    off the request path."""
    global _last_asked
    now = time.monotonic()
    if now - _last_asked < LOCAL_INTERVAL_SECONDS:
        return True
    _last_asked = now
    try:
        if not cache.add(SCHEDULED_KEY, 1, timeout=COALESCE_SECONDS):
            return True
    except Exception:  # noqa: BLE001 - a cache outage must not stop the enqueue
        log.warning("cache unavailable; scheduling a digest run without coalescing")
    try:
        outbound.send_task(DIGEST_TASK, kwargs={}, retry=False)
    except Exception:  # noqa: BLE001 - the beat sweep covers a broker outage
        log.warning("could not enqueue a digest run; the periodic sweep will pick it up")
        with contextlib.suppress(Exception):
            cache.delete(SCHEDULED_KEY)
        return False
    return True


def digest_request_helpers(count: int) -> int:
    """A run that found a backlog asks for `count` runs beside it (DIGEST_PARALLEL_RUNS):
    they claim other rows (SKIP LOCKED), so one run's Python overlaps another's wait on
    PostgreSQL. Helpers ask for no helpers. Called on the worker, never a request's thread;
    never raises (with the broker down, the run carries on alone). Returns how many were
    published."""
    published = 0
    for _ in range(count):
        try:
            outbound.send_task(DIGEST_TASK, kwargs={"helper": True}, retry=False)
        except Exception:  # noqa: BLE001 - the asking run digests on without help
            log.warning("could not enqueue a helper digest run; digesting on alone")
            break
        published += 1
    return published


def digest_claimed_schedule_slot() -> None:
    """Called by a starting digest run: later commits may schedule again."""
    try:
        cache.delete(SCHEDULED_KEY)
    except Exception:  # noqa: BLE001
        log.warning("cache unavailable while starting a digest run")


class _Scheduler:
    """One daemon thread per process that turns wake-ups into (at most) one publish."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.wanted = threading.Event()
        self.thread = threading.Thread(target=self._run, name="faultline-digest-scheduler",
                                       daemon=True)
        self.thread.start()

    def wake(self) -> None:
        self.wanted.set()

    def _run(self) -> None:
        while True:
            self.wanted.wait()
            # Within the per-process interval, wait it out rather than drop the wake-up:
            # rows committed just after a run started would otherwise wait for the sweep.
            pause = _last_asked + LOCAL_INTERVAL_SECONDS - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self.wanted.clear()
            try:
                published = digest_schedule_now()
            except Exception:  # the thread must outlive any failure
                log.exception("digest scheduling failed; the periodic sweep will cover it")
                published = False
            if not published:
                time.sleep(FAILURE_PAUSE_SECONDS)


_lock = threading.Lock()
_current: _Scheduler | None = None


def _scheduler() -> _Scheduler:
    global _current
    current = _current
    # A forked child (gunicorn and celery prefork workers) inherits the object but not the
    # thread: start its own.
    if current is not None and current.pid == os.getpid():
        return current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = _Scheduler()
        return _current
