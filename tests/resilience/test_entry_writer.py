"""The group committer: many concurrent requests, one commit, each answered correctly."""

import threading
import uuid

import pytest
from django.db import connections

from resilience.ingest import entry_writer
from resilience.models import ErrorLogEntry
from tests import factories


def _entry(service, event_id=None):
    return factories.ErrorLogEntryFactory.build(
        service=service, event_id=event_id or uuid.uuid4().hex
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_share_commits_and_each_gets_its_own_rows(
    postgres, service, group_committer
):
    committer = group_committer
    results: dict[int, list] = {}
    errors = []

    def request(n: int) -> None:
        try:
            entries = [_entry(service, f"req{n}-{i}") for i in range(3)]
            results[n] = [(e.pk, e.event_id) for e in committer.submit(entries)]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert ErrorLogEntry.objects.count() == 120
    for n, rows in results.items():
        assert [event_id for _, event_id in rows] == [f"req{n}-{i}" for i in range(3)]
        stored = dict(ErrorLogEntry.objects.filter(pk__in=[pk for pk, _ in rows])
                      .values_list("pk", "event_id"))
        assert stored == dict(rows)


@pytest.mark.django_db(transaction=True)
def test_a_resend_racing_the_original_is_stored_once(postgres, service, group_committer):
    committer = group_committer
    answers = []

    def request() -> None:
        try:
            answers.append(committer.submit([_entry(service, "same-event")])[0].pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ErrorLogEntry.objects.filter(event_id="same-event").count() == 1
    assert len(set(answers)) == 1 and len(answers) == 10


@pytest.mark.django_db(transaction=True)
def test_a_failed_commit_is_reported_to_the_waiting_request(service, group_committer):
    committer = group_committer
    bad = _entry(service)
    bad.category = None  # NOT NULL: the database refuses the row
    with pytest.raises(Exception):  # noqa: B017 - the database's own IntegrityError type
        committer.submit([bad])
    connections.close_all()
    assert ErrorLogEntry.objects.count() == 0
    # and the committer keeps working afterwards
    assert committer.submit([_entry(service)])[0].pk is not None
    connections.close_all()


def test_inside_a_callers_transaction_the_writer_writes_in_place(
    service_client, settings, monkeypatch
):
    """Rows handed to the committer's own connection could not see the caller's
    uncommitted transaction, so a caller already in one writes in place."""
    settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_GROUP_COMMIT": True}
    handed_over = []
    monkeypatch.setattr(entry_writer.GroupCommitter, "submit",
                        lambda self, entries: handed_over.append(entries))
    response = service_client.post("/api/v1/errors/", data='[{"code": "A"}, {"code": "B"}]',
                                   content_type="application/json")
    assert response.status_code == 201
    assert handed_over == []
    assert ErrorLogEntry.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_with_group_commit_on_the_api_commits_through_the_committer(
    postgres, service_client, settings, monkeypatch
):
    settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_GROUP_COMMIT": True}
    submitted = []
    real_submit = entry_writer.GroupCommitter.submit

    def counting_submit(self, entries):
        submitted.append(len(entries))
        return real_submit(self, entries)

    monkeypatch.setattr(entry_writer.GroupCommitter, "submit", counting_submit)
    response = service_client.post("/api/v1/errors/", data='[{"code": "A"}, {"code": "B"}]',
                                   content_type="application/json")
    assert response.status_code == 201
    assert submitted == [2]
    ids = [r["id"] for r in response.json()]
    assert ErrorLogEntry.objects.filter(pk__in=ids).count() == 2
    connections.close_all()
