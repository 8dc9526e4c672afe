"""Keep accepting through a database outage: entries the database cannot take now are
appended to a local spool (fsync'd before the sender is answered) and written, in order and
idempotently on (service, event_id), once it is back. Sentry's Relay does the same.

The files are segments.py's (pure); this module is the Django side: which errors mean
"the database is down", this process's writer, the drain and the drainer thread.
"""

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from django.db import InterfaceError, OperationalError, close_old_connections, connection

from resilience import conf
from resilience.ingest.spool.rows import entry_to_row, row_to_entry
from resilience.ingest.spool.segments import (
    SegmentWriter,
    SpoolFull,
    SpoolStats,
    claimed,
    read_segment,
    segment_paths,
    spool_stats,
)
from resilience.models import ErrorLogEntry

__all__ = [
    "DATABASE_DOWN", "SpoolFull", "SpoolStats", "database_reachable", "drainer_start",
    "spool_drain", "spool_enabled", "spool_entries", "spool_rotate", "spool_status",
]

log = logging.getLogger(__name__)

# What the database raises when it cannot be reached or went away mid-statement. Anything
# else (a constraint, bad data) is about the rows, and spooling them would only delay it.
DATABASE_DOWN = (OperationalError, InterfaceError)
# Rows per statement when draining: big enough to catch up fast, small enough to retry.
DRAIN_BATCH = 500
# The drainer's waits: quick to notice the database is back, backing off while it is not.
DRAIN_IDLE_SECONDS = 1.0
DRAIN_BACKOFF_MAX_SECONDS = 10.0

_writer: SegmentWriter | None = None
_writer_lock = threading.Lock()


def database_reachable() -> bool:
    """Whether this thread's connection answers now. OperationalError also covers a few
    errors about the rows themselves (a row over an index's size limit); asking tells an
    outage from those, so a bad row is never spooled forever nor blocks a drain."""
    try:
        connection.close_if_unusable_or_obsolete()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DATABASE_DOWN:
        return False
    return True


def _directory() -> Path:
    return Path(conf.get("SPOOL_DIR"))


def spool_enabled() -> bool:
    return bool(conf.get("SPOOL_DIR")) and conf.get("SPOOL_MAX_BYTES") > 0


def _the_writer() -> SegmentWriter:
    global _writer
    with _writer_lock:
        directory = _directory()
        if _writer is None or _writer.directory != directory:
            if _writer is not None:
                _writer.rotate()
            _writer = SegmentWriter(directory, max_bytes=conf.get("SPOOL_MAX_BYTES"))
        _writer.max_bytes = conf.get("SPOOL_MAX_BYTES")
        return _writer


def spool_entries(*, entries: Sequence[ErrorLogEntry]) -> None:
    """Append `entries` to this process's spool and fsync; raises SpoolFull (nothing is
    kept then) when there is no room or the disk refuses. Starts the drainer thread if it
    is not running."""
    try:
        _the_writer().append([entry_to_row(e) for e in entries], now=time.time())
    except OSError as exc:  # a full disk, a missing permission: no room either way
        log.error("spool: cannot write to %s: %s", _directory(), exc)
        raise SpoolFull(f"the spool cannot be written: {exc}") from exc
    drainer_start()


def spool_rotate() -> None:
    """Close this process's open segment, so that a drain (in any process) may claim it."""
    with _writer_lock:
        if _writer is not None:
            _writer.rotate()


def spool_status() -> SpoolStats:
    return spool_stats(_directory())


def _write_rows(rows: list[dict]) -> None:
    from resilience.ingest.entry_writer import write_now

    write_now([row_to_entry(r) for r in rows])


def _write_segment(path: Path) -> int:
    rows, bad = read_segment(path)
    if bad:
        log.error("spool segment %s: %d unreadable line(s) skipped", path, bad)
    for start in range(0, len(rows), DRAIN_BATCH):
        chunk = rows[start : start + DRAIN_BATCH]
        try:
            _write_rows(chunk)
        except Exception as exc:  # find the row the database refuses
            if isinstance(exc, DATABASE_DOWN) and not database_reachable():
                raise
            for row in chunk:
                try:
                    _write_rows([row])
                except Exception as row_exc:  # kept aside, never dropped
                    if isinstance(row_exc, DATABASE_DOWN) and not database_reachable():
                        raise
                    _keep_refused(path, row, row_exc)
    return len(rows)


def _keep_refused(path: Path, row: dict, exc: Exception) -> None:
    import json

    refused = path.with_suffix(".refused")
    with open(refused, "a", encoding="utf-8") as f:
        f.write(json.dumps({"error": f"{exc.__class__.__name__}: {exc}", "row": row}) + "\n")
    log.error("spool: the database refused an entry of %s (%s); kept in %s",
              path.name, exc, refused)


def spool_drain() -> int:
    """Write every segment nobody is writing or draining, oldest first, and remove each once
    committed; returns the entries written. Raises a DATABASE_DOWN error if the database is
    still away (what was written so far stays written; the segment is redone, idempotently).
    """
    spool_rotate()  # this process's own open segment becomes claimable
    written = 0
    for path in segment_paths(_directory()):
        with claimed(path) as ours:
            if not ours:
                continue
            written += _write_segment(path)
            path.unlink()
    return written


class _Drainer(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="faultline-spool-drainer", daemon=True)
        self.wake = threading.Event()

    def run(self) -> None:
        delay = DRAIN_IDLE_SECONDS
        while True:
            self.wake.wait(delay)
            self.wake.clear()
            if not segment_paths(_directory()):
                delay = DRAIN_IDLE_SECONDS
                continue
            try:
                close_old_connections()
                connection.ensure_connection()  # rotate and claim only once it is back
                count = spool_drain()
            except DATABASE_DOWN as exc:
                delay = min(delay * 2, DRAIN_BACKOFF_MAX_SECONDS)
                log.info("spool: database still unavailable (%s); next try in %.0fs", exc, delay)
                close_old_connections()
                continue
            except Exception:  # the thread must outlive any one failure
                log.exception("spool: drain failed")
                delay = DRAIN_BACKOFF_MAX_SECONDS
                continue
            if count:
                log.warning("spool: %d spooled entr(ies) written to the database", count)
            delay = DRAIN_IDLE_SECONDS


_drainer: _Drainer | None = None


def drainer_start() -> None:
    """One drainer thread per process (SPOOL_DRAIN_THREAD); it also drains segments left
    by a dead process, so call it at start-up as well."""
    global _drainer
    if not conf.get("SPOOL_DRAIN_THREAD") or not spool_enabled():
        return
    with _writer_lock:
        if _drainer is None or not _drainer.is_alive():
            _drainer = _Drainer()
            _drainer.start()
