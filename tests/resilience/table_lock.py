"""Holding the entries table from another session, so that the group committer's INSERT
waits and the requests submitted meanwhile queue up behind it (PostgreSQL)."""

import threading
import time
from collections.abc import Callable

from django.db import connection, connections, transaction

from resilience.models import ErrorLogEntry

TABLE = ErrorLogEntry._meta.db_table


def wait_until(condition: Callable[[], bool], what: str) -> None:
    # A bound on waiting for other threads, not a timing assertion.
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def waiting_inserts() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
            [TABLE],
        )
        return cursor.fetchone()[0]


class TableLock:
    """Holds an EXCLUSIVE lock on the entries table from its own connection, so the
    committer's INSERT waits and every request submitted meanwhile joins one batch."""

    def __init__(self) -> None:
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
                self.locked.set()
                self.release.wait(60)
        finally:
            connections.close_all()

    def __enter__(self) -> "TableLock":
        self.thread.start()
        assert self.locked.wait(30)
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join()


def submit_in_thread(committer, entries, outcomes: dict, name: str) -> threading.Thread:
    """committer.submit(entries) in a thread of its own; its answer or error in outcomes[name]."""
    def run() -> None:
        try:
            outcomes[name] = committer.submit(entries)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread
