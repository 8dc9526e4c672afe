"""GroupCommitter.stop(): what was queued is committed, the thread ends and closes its
connection, and a write after that is committed on the caller's own thread."""

import threading
import uuid

import pytest
from django.db import connection

from resilience.ingest import entry_writer
from resilience.models import ErrorLogEntry
from tests import factories
from tests.resilience.table_lock import TableLock, submit_in_thread, wait_until, waiting_inserts
from tests.write_paths import COMMITTED, stored_event_ids

pytestmark = [pytest.mark.django_db(transaction=True)]


def _entry(service) -> ErrorLogEntry:
    return factories.ErrorLogEntryFactory.build(service=service, event_id=uuid.uuid4().hex)


def _other_sessions() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity"
                       " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return {pid for (pid,) in cursor.fetchall()}


def test_stop_commits_the_requests_queued_before_it(postgres, service, group_committer):
    committer = group_committer
    outcomes: dict = {}
    stopped: list[bool] = []
    with TableLock():
        # The first request holds the committer on the lock; the rest queue behind it.
        threads = [submit_in_thread(committer, [_entry(service)], outcomes, "first")]
        wait_until(lambda: waiting_inserts() == 1, "the committer to wait on the lock")
        threads += [submit_in_thread(committer, [_entry(service), _entry(service)], outcomes,
                                      f"queued{n}") for n in range(4)]
        wait_until(lambda: committer.jobs.qsize() == 4, "every request to queue")
        stopper = threading.Thread(target=lambda: stopped.append(committer.stop(timeout=30)))
        stopper.start()
        wait_until(lambda: committer.jobs.qsize() == 5, "stop() to close the queue")
    for thread in [*threads, stopper]:
        thread.join()

    assert stopped == [True]
    assert not committer.thread.is_alive()
    answered = {row.pk for rows in outcomes.values() for row in rows}
    assert len(answered) == 1 + 4 * 2
    assert set(ErrorLogEntry.objects.values_list("pk", flat=True)) == answered


def test_stop_closes_the_committers_connection(postgres, service, group_committer):
    before = _other_sessions()
    group_committer.submit([_entry(service)])
    committers = _other_sessions() - before
    assert len(committers) == 1  # the committer thread's own session
    assert group_committer.stop()
    wait_until(lambda: not committers & _other_sessions(), "its session to end")


def test_after_stop_a_write_is_committed_on_the_callers_thread(postgres, service,
                                                               group_committer):
    assert group_committer.stop()
    assert group_committer.stop()  # a second stop is harmless
    rows = group_committer.submit([_entry(service), _entry(service)])
    assert all(row.pk for row in rows)
    # Committed before submit() returned: another session sees the rows.
    assert stored_event_ids(COMMITTED) == {row.pk: row.event_id for row in rows}


def test_the_process_committer_is_forgotten_once_stopped(postgres, service, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_GROUP_COMMIT": True}
    first = entry_writer.committer()
    first.submit([_entry(service)])
    assert entry_writer.committer_stop()
    assert not first.thread.is_alive()
    assert entry_writer.committer() is not first  # the next group write starts a new one
