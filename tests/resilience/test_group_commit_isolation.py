"""Group commit: rows the database refuses fail only the request that sent them.

Issue 11: with group commit on, NUL-byte reports from one key made 672 of 2,561 valid
reports from another key fail with 500. The bad rows here go straight to the writer,
past validation (which is hardened elsewhere), as a request that slipped through would.
"""

import json
import threading
import uuid

import pytest
from django.db import connection, connections
from django.test import Client

from resilience.ingest import entry_writer
from resilience.models import ErrorLogEntry
from tests import factories
from tests.resilience.table_lock import (
    TABLE,
    TableLock,
    submit_in_thread,
    wait_until,
    waiting_inserts,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


def _entry(service, **fields) -> ErrorLogEntry:
    fields.setdefault("event_id", uuid.uuid4().hex)
    return factories.ErrorLogEntryFactory.build(service=service, **fields)


# Three ways the database (or its driver) refuses a row.
REFUSED = {
    "NUL in a text field": {"message": "before\x00after"},  # psycopg2 refuses the literal
    "NUL in a JSON field": {"extra": {"tag": "a\x00b"}},  # PostgreSQL: unsupported escape
    "NULL in a NOT NULL column": {"category": None},  # IntegrityError, like a conflict
}


class Recorder:
    """Wraps a committer's real _take_batch to record which services each batch held."""

    def __init__(self, committer: entry_writer.GroupCommitter, monkeypatch) -> None:
        self.batches: list[set[int]] = []
        real = committer._take_batch

        def take() -> list:
            batch = real()
            self.batches.append({e.service_id for job in batch for e in job.entries})
            return batch

        monkeypatch.setattr(committer, "_take_batch", take)


def test_refused_rows_fail_only_their_own_request_in_a_shared_batch(
    postgres, monkeypatch, group_committer
):
    good_service, bad_service = factories.ServiceFactory(), factories.ServiceFactory()
    committer = group_committer
    outcomes: dict = {}
    threads = []
    with TableLock():
        # The first request is taken alone and waits on the lock: the rest queue up.
        threads.append(submit_in_thread(committer, [_entry(good_service)], outcomes, "first"))
        wait_until(lambda: waiting_inserts() == 1, "the committer to wait on the lock")
        recorder = Recorder(committer, monkeypatch)
        good = {f"good{n}": [_entry(good_service) for _ in range(3)] for n in range(20)}
        # A resend of another request's event in the same batch is answered from its row.
        good["resend"] = [_entry(good_service, event_id=good["good0"][0].event_id)]
        bad = {name: [_entry(bad_service), _entry(bad_service, **fields)]
               for name, fields in REFUSED.items()}
        for name, entries in {**good, **bad}.items():
            threads.append(submit_in_thread(committer, entries, outcomes, name))
        wait_until(lambda: committer.jobs.qsize() == len(good) + len(bad),
                    "every request to queue")
    for thread in threads:
        thread.join()

    # The queued requests were written as one shared batch, good and bad together.
    assert recorder.batches[0] == {good_service.pk, bad_service.pk}
    for name in REFUSED:
        assert isinstance(outcomes[name], Exception), (name, outcomes[name])
    for name, entries in good.items():
        rows = outcomes[name]
        assert not isinstance(rows, Exception), (name, rows)
        assert [r.event_id for r in rows] == [e.event_id for e in entries]
        assert all(r.pk for r in rows)
    assert outcomes["resend"][0].pk == outcomes["good0"][0].pk
    assert not ErrorLogEntry.objects.filter(service=bad_service).exists()
    stored = set(ErrorLogEntry.objects.filter(service=good_service).values_list("pk", flat=True))
    answered = {r.pk for name in (*good, "first") for r in outcomes[name]}
    assert stored == answered
    assert len(stored) == 1 + 20 * 3


def test_a_shared_write_that_loses_its_connection_is_written_again(
    postgres, monkeypatch, group_committer
):
    """Not a row's fault at all: the committer's connection dies mid-INSERT. Nobody was
    answered yet, so every request is written again on a fresh connection."""
    service = factories.ServiceFactory()
    committer = group_committer
    outcomes: dict = {}
    with TableLock():
        threads = [submit_in_thread(committer, [_entry(service)], outcomes, f"r{n}")
                   for n in range(5)]
        wait_until(lambda: waiting_inserts() == 1, "the committer to wait on the lock")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE NOT granted AND relation = %s::regclass", [TABLE],
            )
    for thread in threads:
        thread.join()
    for name, rows in outcomes.items():
        assert not isinstance(rows, Exception), (name, rows)
    assert ErrorLogEntry.objects.filter(service=service).count() == 5


def test_a_key_sending_refused_rows_costs_concurrent_api_clients_nothing(
    postgres, settings, monkeypatch
):
    """Several threads post valid reports through the API while another key's rows are
    refused by the database; every valid report is answered 201 and committed."""
    settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_GROUP_COMMIT": True}
    good_service, bad_service = factories.ServiceFactory(), factories.ServiceFactory()
    _, raw_key = factories.service_key(good_service)
    committer = entry_writer.committer()
    recorder = Recorder(committer, monkeypatch)
    statuses: list[int] = []
    ids: list[int] = []
    refused: list[Exception] = []
    lock = threading.Lock()

    def poster(n: int) -> None:
        # A server error is an answer here (a 500, as the client saw it), not a crash.
        client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        try:
            for i in range(20):
                response = client.post("/api/v1/errors/", content_type="application/json",
                                       data=json.dumps({"code": "ECONNRESET",
                                                        "message": f"poster {n} report {i}"}))
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 201:
                        ids.append(response.json()["id"])
        finally:
            connections.close_all()

    def hostile(fields: dict) -> None:
        try:
            for _ in range(20):
                try:
                    entry_writer.write([_entry(bad_service, **fields)])
                except Exception as exc:  # noqa: BLE001 - expected: the database refuses
                    with lock:
                        refused.append(exc)
        finally:
            connections.close_all()

    with TableLock():
        # One valid report waits on the lock, so the hostile rows and the next valid
        # reports are sure to share at least one batch; after that, whatever races.
        threads = [threading.Thread(target=poster, args=(0,))]
        threads[0].start()
        wait_until(lambda: waiting_inserts() == 1, "the committer to wait on the lock")
        for fields in REFUSED.values():
            threads.append(threading.Thread(target=hostile, args=(fields,)))
        threads += [threading.Thread(target=poster, args=(n,)) for n in range(1, 8)]
        for thread in threads[1:]:
            thread.start()
        wait_until(lambda: committer.jobs.qsize() >= 3 + 7, "both keys' requests to queue")
    for thread in threads:
        thread.join()

    assert any(services == {good_service.pk, bad_service.pk} for services in recorder.batches)
    assert statuses == [201] * 8 * 20
    assert len(refused) == 3 * 20
    assert ErrorLogEntry.objects.filter(pk__in=ids, service=good_service).count() == 8 * 20
    assert not ErrorLogEntry.objects.filter(service=bad_service).exists()
