"""Storing accepted entries: one COPY (PostgreSQL; a multi-row INSERT elsewhere) per
commit, idempotent on event_id.

With INGEST_GROUP_COMMIT on (production), concurrent requests in one process hand their rows
to a single committer thread, which writes whatever has queued up in one transaction and
then releases every waiting request. A commit per request is what caps a single-report
endpoint near 900/s on two cores (FIELD-NOTES); sharing commits lifts that cap without
answering anyone before their row is committed. There is no artificial wait: rows that
arrive while a commit is in flight simply form the next batch. A shared write the database
refuses is written again with a savepoint per request, so only the request whose rows were
refused gets the error: one client's bad rows never cost another client its write.
`stop()` commits what is queued, ends the thread and closes its connection; a write after
that is committed on the caller's own thread, so a stopped committer never answers a row
it did not commit, nor leaves a request waiting.
"""

import logging
import queue
import threading
import time
from collections.abc import Sequence

from django.db import IntegrityError, close_old_connections, connection, connections, transaction
from django.db.models import Q

from resilience import conf
from resilience.digest.schedule import digest_schedule
from resilience.ingest import entry_rows, spool
from resilience.models import ErrorLogEntry

log = logging.getLogger(__name__)

Key = tuple[int, str]
# What an answer to the sender needs from a row that was stored already.
_ANSWER_FIELDS = (
    "id", "service_id", "event_id", "category", "severity", "retryable", "recoverable",
    "strategy", "retry_after_ms",
)


def _key(entry: ErrorLogEntry) -> Key:
    return (entry.service_id, entry.event_id)


def _stored_for(keys: set[Key]) -> dict[Key, ErrorLogEntry]:
    if not keys:
        return {}
    by_service: dict[int, list[str]] = {}
    for service_id, event_id in keys:
        by_service.setdefault(service_id, []).append(event_id)
    condition = Q()
    for service_id, event_ids in by_service.items():
        condition |= Q(service_id=service_id, event_id__in=event_ids)
    return {
        _key(e): e for e in ErrorLogEntry.objects.filter(condition).only(*_ANSWER_FIELDS)
    }


def _insert_statements(rows: Sequence[ErrorLogEntry]) -> None:
    """INSERT … RETURNING id, as few statements as the backend's parameter limit allows.

    Written out rather than bulk_create(), which always wraps itself in a transaction:
    a single multi-row INSERT outside one commits on its own, in one round trip instead
    of BEGIN, INSERT and COMMIT (on this machine each round trip costs real CPU)."""
    fields = [f for f in ErrorLogEntry._meta.concrete_fields if not f.primary_key]
    limit = connection.features.max_query_params or 65_535
    per_statement = max(1, limit // len(fields))
    table = connection.ops.quote_name(ErrorLogEntry._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                f.get_db_prep_save(f.pre_save(row, add=True), connection)
                for row in chunk
                for f in fields
            ]
            values = ", ".join([row_sql] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values} RETURNING id", params
            )
            for row, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                row.pk = pk
                row._state.adding = False


def _statements_needed(count: int) -> int:
    fields = len(ErrorLogEntry._meta.concrete_fields) - 1
    limit = connection.features.max_query_params or 65_535
    return -(-count // max(1, limit // fields))


def _insert(entries: Sequence[ErrorLogEntry], *, look_up: bool) -> list[ErrorLogEntry]:
    """Insert the entries not stored yet; return, per input, the row that is stored.

    Resends are the exception, so the first try inserts without looking; only after a
    conflict are the sender-supplied event ids looked up (`look_up`)."""
    stored: dict[Key, ErrorLogEntry] = {}
    if look_up:
        supplied = {_key(e) for e in entries if not getattr(e, "generated_event_id", False)}
        stored = _stored_for(supplied)
    fresh: dict[Key, ErrorLogEntry] = {}
    for entry in entries:
        key = _key(entry)
        if key not in stored and key not in fresh:
            fresh[key] = entry
    _insert_statements(list(fresh.values()))
    stored.update(fresh)
    return [stored[_key(e)] for e in entries]


def _copy(entries: Sequence[ErrorLogEntry], ids: entry_rows.IdBlock | None) -> list[
    ErrorLogEntry
]:
    """The first try on PostgreSQL: COPY the entries not repeated within the call."""
    fresh: dict[Key, ErrorLogEntry] = {}
    for entry in entries:
        fresh.setdefault(_key(entry), entry)
    rows = list(fresh.values())
    entry_rows.copy_rows(rows, ids.take(len(rows)) if ids else entry_rows.take_ids(len(rows)))
    return [fresh[_key(e)] for e in entries]


def write_now(
    entries: Sequence[ErrorLogEntry], *, ids: entry_rows.IdBlock | None = None
) -> list[ErrorLogEntry]:
    """Store `entries` in this thread's connection and commit (or join the caller's
    transaction). A conflict on event_id (a resend) retries with a look-up and is answered
    from the stored row; a third try covers a resend racing its original. `ids`: where the
    group committer keeps the ids it took ahead."""
    for attempt in (1, 2, 3):
        look_up = attempt > 1
        try:
            if not look_up and not connection.in_atomic_block and entry_rows.copy_supported():
                # One COPY is atomic by itself, and commits by itself: a conflict stores
                # nothing and the next try looks the stored rows up.
                result = _copy(entries, ids)
            elif (
                not look_up
                and not connection.in_atomic_block
                and _statements_needed(len(entries)) == 1
            ):
                # One statement is atomic by itself: no transaction needed around it.
                # (Inside a caller's transaction a savepoint must contain a conflict.)
                result = _insert(entries, look_up=False)
            else:
                with transaction.atomic():
                    result = _insert(entries, look_up=look_up)
            transaction.on_commit(digest_schedule)
            return result
        except IntegrityError:
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


class _Job:
    __slots__ = ("done", "entries", "error", "result")

    def __init__(self, entries: Sequence[ErrorLogEntry]) -> None:
        self.entries = entries
        self.done = threading.Event()
        self.result: list[ErrorLogEntry] | None = None
        self.error: BaseException | None = None


# Queued by stop() behind the last job: the committer thread ends when it takes it.
_END = None


class GroupCommitter:
    """One thread that commits the rows of many concurrent requests together."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Held while a job is queued and while stop() closes the queue, so no job can be
        # queued behind _END, where nothing would ever take it.
        self._queue_lock = threading.Lock()
        self._accepting = True
        self._ended = False  # the thread took _END
        self.ids = entry_rows.IdBlock()
        self.thread = threading.Thread(target=self._run, name="faultline-committer", daemon=True)
        self.thread.start()

    def submit(self, entries: Sequence[ErrorLogEntry]) -> list[ErrorLogEntry]:
        if entry_rows.copy_supported():
            # Encoded here, on the request's thread: the committer only joins and writes.
            for entry in entries:
                entry.copy_line = entry_rows.encode(entry)
        job = _Job(entries)
        with self._queue_lock:
            queued = self._accepting
            if queued:
                self.jobs.put(job)
        if not queued:
            return write_now(entries)  # stopped: committed here, before the caller answers
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def stop(self, timeout: float = 10.0) -> bool:
        """Commit what is queued, end the thread and close its connection. Later submits
        commit on their own thread. True when the thread ended within `timeout` seconds
        (a commit still in flight past that still answers its requests when it ends)."""
        with self._queue_lock:
            if self._accepting:
                self._accepting = False
                self.jobs.put(_END)
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _take_batch(self) -> list[_Job]:
        """The next batch; empty once _END is taken (the batch before it is complete)."""
        first = self.jobs.get()
        if first is _END:
            self._ended = True
            return []
        batch = [first]
        rows = len(first.entries)
        while rows < self.max_rows:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is _END:
                self._ended = True
                break
            batch.append(job)
            rows += len(job.entries)
        return batch

    def _run(self) -> None:
        try:
            self._commit_until_ended()
        finally:
            connections.close_all()  # this thread's own: nothing else can close it

    def _commit_until_ended(self) -> None:
        checked_at = 0.0
        while not self._ended:
            batch = self._take_batch()
            if not batch:
                continue
            # A connection health check is a round trip: once a second is plenty, and at
            # once after a failure.
            if time.monotonic() - checked_at >= 1.0:
                close_old_connections()
                checked_at = time.monotonic()
            try:
                self._commit(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
                checked_at = 0.0
                self.ids.forget()
                for job in batch:
                    if not job.done.is_set():
                        job.error = exc
                        job.done.set()

    def _commit(self, batch: list[_Job]) -> None:
        try:
            rows = write_now([e for job in batch for e in job.entries], ids=self.ids)
        except Exception:  # noqa: BLE001 - whose rows caused it is found out below
            self.ids.forget()
            # One request's rows must never fail another's (issue 11: NUL bytes from one
            # key failed 672 valid reports of another): write each request again, apart.
            close_old_connections()  # a connection the failure broke is replaced first
            _commit_each(batch)
            return
        start = 0
        for job in batch:
            job.result = rows[start : start + len(job.entries)]
            start += len(job.entries)
            job.done.set()


def _commit_each(batch: Sequence[_Job]) -> None:
    """The second pass after a failed shared write: one transaction with a savepoint per
    request, so a refused request rolls back only its own rows and the rest still share
    one commit. Nobody is answered before that commit; if it fails as a whole (the
    connection died), each request is committed on its own."""
    results: dict[int, list[ErrorLogEntry]] = {}
    errors: dict[int, BaseException] = {}
    alone: list[int] = []
    try:
        with transaction.atomic():
            for n, job in enumerate(batch):
                try:
                    with transaction.atomic():
                        results[n] = _insert(job.entries, look_up=True)
                except IntegrityError:
                    alone.append(n)  # a resend racing its original: write_now's retries
                except Exception as exc:  # noqa: BLE001 - the rows this request sent
                    errors[n] = exc
            if results:
                transaction.on_commit(digest_schedule)
    except Exception:  # noqa: BLE001 - nothing of the shared transaction was committed
        close_old_connections()
        results, errors, alone = {}, {}, list(range(len(batch)))
    for n in alone:
        try:
            results[n] = write_now(batch[n].entries)
        except Exception as exc:  # noqa: BLE001 - handed to that request only
            errors[n] = exc
    for n, job in enumerate(batch):
        if n in results:
            job.result = results[n]
        else:
            job.error = errors[n]
        job.done.set()


_committer: GroupCommitter | None = None
_committer_lock = threading.Lock()


def committer() -> GroupCommitter:
    global _committer
    with _committer_lock:
        if _committer is None:
            _committer = GroupCommitter(max_rows=conf.get("INGEST_GROUP_COMMIT_MAX_ROWS"))
        return _committer


def committer_stop(timeout: float = 10.0) -> bool:
    """Stop this process's committer, if one was started, and forget it: the next group
    write starts a new one. True when there was none or its thread ended in time."""
    global _committer
    with _committer_lock:
        running, _committer = _committer, None
    return running is None or running.stop(timeout)


def write(entries: Sequence[ErrorLogEntry]) -> list[ErrorLogEntry]:
    """Store entries; while the database is unavailable, spool them instead (resilience/
    spool/): those come back unsaved (pk None) with `spooled` set. Raises SpoolFull when
    the spool has no room. A caller's own transaction is never spooled out of: its other
    writes are lost with the database anyway, and it must see the error."""
    if connection.in_atomic_block or not spool.spool_enabled():
        return _write(entries)
    try:
        return _write(entries)
    except spool.DATABASE_DOWN as exc:
        failure = exc
    if spool.database_reachable():
        # It answers again (a fast restart), or the error was about these rows: one more
        # try tells which, and a row error is raised rather than spooled for ever.
        return _write(entries)
    log.info("database unavailable, %d entr(ies) spooled: %s", len(entries), failure)
    spool.spool_entries(entries=entries)
    for entry in entries:
        entry.pk = None
        entry.spooled = True
    return list(entries)


def _write(entries: Sequence[ErrorLogEntry]) -> list[ErrorLogEntry]:
    """Store entries, through the group committer when it is on and the caller is not
    already inside a transaction of its own (whose rows it could not see)."""
    # A large batch amortises its own commit; queued behind the committer it would only
    # hold up the single reports waiting there.
    if (
        conf.get("INGEST_GROUP_COMMIT")
        and not connection.in_atomic_block
        and len(entries) < conf.get("INGEST_GROUP_COMMIT_MAX_ROWS")
    ):
        return committer().submit(entries)
    return write_now(entries)
