"""The digest never stops on one row: what it cannot process is quarantined.

The reproduced case (issue 11): a report with "timestamp": "0001-01-01T00:00:00+14:00" is
stored by PostgreSQL as 1 BC, and psycopg2 cannot read it back (ValueError: year -1 is out
of range), which stopped every digest run, GET /api/v1/errors/ and /readyz. The rows are
written with raw SQL, as a hostile client did before validation refused them.
"""

import importlib
import threading
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import OperationalError, connection, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from resilience.digest.quarantine import quarantined_entries
from resilience.digest.selectors import oldest_pending_received_at
from resilience.digest.service import digest_batch
from resilience.models import AuditEvent, ErrorGroup, ErrorLogEntry, ErrorMetric
from tests.factories import ErrorLogEntryFactory

TABLE = ErrorLogEntry._meta.db_table
HOSTILE = "0001-01-01T00:00:00+14:00"  # 0001-12-31 10:00:00 BC in UTC
CHANGELIST = reverse("admin:resilience_errorlogentry_changelist")


def _stored_with(entry: ErrorLogEntry, column: str, value: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET {column} = %s WHERE id = %s", [value, entry.pk])
    return entry.pk


def hostile_entry(service, **fields) -> int:
    """An entry whose stored timestamp Python cannot read."""
    return _stored_with(ErrorLogEntryFactory(service=service, **fields), "timestamp", HOSTILE)


def test_the_hostile_timestamp_really_cannot_be_read(postgres, service):
    entry_id = hostile_entry(service)
    with pytest.raises(ValueError, match="year -1 is out of range"):
        ErrorLogEntry.objects.get(pk=entry_id)


def test_the_row_is_quarantined_and_the_rest_of_the_batch_is_digested(postgres, service):
    before = [ErrorLogEntryFactory(service=service) for _ in range(3)]
    bad = hostile_entry(service, received_at=timezone.now() - timedelta(minutes=2))
    after = [ErrorLogEntryFactory(service=service) for _ in range(3)]

    result = digest_batch(limit=100)

    assert result.entries == 6
    assert result.quarantined == [bad]
    assert ErrorGroup.objects.get().times_seen == 6
    assert sum(ErrorMetric.objects.values_list("count", flat=True)) == 6
    assert not ErrorLogEntry.objects.filter(pk__in=[e.pk for e in before + after],
                                            digested_at=None).exists()
    entry = ErrorLogEntry.objects.get(pk=bad)  # readable again
    assert entry.digested_at is None and entry.group_id is None
    assert entry.quarantined_at is not None
    assert entry.quarantine_reason.startswith("ValueError: year -1 is out of range")
    assert "timestamp 0001-12-31 10:00:00 BC UTC replaced by received_at" in (
        entry.quarantine_reason)
    assert entry.timestamp == entry.received_at


def test_later_batches_go_on_and_never_claim_the_row_again(postgres, service):
    bad = hostile_entry(service)
    assert digest_batch(limit=100).quarantined == [bad]
    ErrorLogEntryFactory(service=service)
    result = digest_batch(limit=100)
    assert result.entries == 1
    assert result.quarantined == []
    assert digest_batch(limit=100).entries == 0


def test_each_failing_row_in_a_large_batch_is_found_and_only_those(postgres, service):
    entries = [ErrorLogEntryFactory(service=service, message=f"failure {n}") for n in range(300)]
    bad = {
        # 1 BC and 10000 AD once converted to UTC: neither can be read back.
        hostile_entry(service),
        _stored_with(entries[0], "timestamp", HOSTILE),
        _stored_with(entries[150], "timestamp", "9999-12-31T23:00:00-14:00"),
        # Readable, but the digest cannot work with it (no such severity).
        _stored_with(entries[299], "severity", "BOGUS"),
    }

    result = digest_batch(limit=1000)

    assert set(result.quarantined) == bad
    assert result.entries == 300 - 3
    assert set(quarantined_entries().values_list("pk", flat=True)) == bad
    assert ErrorGroup.objects.get().times_seen == 297
    assert sum(ErrorMetric.objects.values_list("count", flat=True)) == 297
    reasons = dict(quarantined_entries().values_list("pk", "quarantine_reason"))
    assert reasons[entries[150].pk].startswith("ValueError: year 10000 is out of range")
    assert reasons[entries[299].pk] == "ValueError: 'BOGUS' is not a valid Severity"


def test_a_row_the_digest_cannot_process_is_quarantined_on_any_database(db, service):
    good = ErrorLogEntryFactory(service=service)
    bad = _stored_with(ErrorLogEntryFactory(service=service), "severity", "BOGUS")
    result = digest_batch(limit=100)
    assert (result.entries, result.quarantined) == (1, [bad])
    good.refresh_from_db()
    assert good.digested_at is not None


def test_after_commit_each_digested_entry_is_logged_once_and_alerts_run_once(
    postgres, service, caplog, django_capture_on_commit_callbacks
):
    digested = [ErrorLogEntryFactory(service=service) for _ in range(4)]
    bad = hostile_entry(service, message="the hostile one")
    with caplog.at_level("DEBUG", logger="faultline.errors"), \
            django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = digest_batch(limit=100)
    assert result.quarantined == [bad]
    # The alerts hook and the error log, once for the batch (what the alerts hook then
    # queues, when it evaluates in place, is not the digest's).
    functions = [getattr(c, "func", c) for c in callbacks]
    digest_callbacks = [f.__name__ for f in functions
                        if getattr(f, "__module__", "") == "resilience.digest.service"]
    assert sorted(digest_callbacks) == ["_alerts_after_commit", "_log_after_commit"]
    logged = [r.getMessage() for r in caplog.records if r.name == "faultline.errors"]
    assert len(logged) == len(digested)
    assert not any("the hostile one" in line for line in logged)
    group = ErrorGroup.objects.get()
    assert result.group_entries == {group.pk: [4, max(e.pk for e in digested)]}


@pytest.mark.django_db(transaction=True)
def test_a_lock_timeout_is_nobodys_row_and_quarantines_nothing(postgres, service):
    """Connection and lock failures abort the batch for the next run; they never set
    healthy rows aside."""
    ErrorLogEntryFactory(service=service)
    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    entries = [ErrorLogEntryFactory(service=service) for _ in range(5)]
    locked, release = threading.Event(), threading.Event()

    def hold_the_group() -> None:
        try:
            with transaction.atomic():
                ErrorGroup.objects.select_for_update().get(pk=group.pk)
                locked.set()
                release.wait(60)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_group)
    holder.start()
    assert locked.wait(30)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '100ms'")
        with pytest.raises(OperationalError, match="lock timeout"):
            digest_batch(limit=100)
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert not quarantined_entries().exists()
    assert ErrorLogEntry.objects.filter(digested_at=None).count() == 5
    assert digest_batch(limit=100).entries == 5
    group.refresh_from_db()
    assert group.times_seen == 1 + len(entries)


@pytest.mark.django_db(transaction=True)
def test_a_group_deleted_while_its_batch_runs_is_nobodys_row(postgres, service, monkeypatch):
    """The batch marks its entries before it locks their groups: a group deleted in
    between aborts the batch for the next run, which counts the entries into a new group;
    nothing is quarantined."""
    from resilience.digest import service as digest_service

    ErrorLogEntryFactory(service=service)
    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    for _ in range(3):
        ErrorLogEntryFactory(service=service)
    mark = digest_service.entries_mark_digested

    def mark_then_delete_the_group(pairs, *, at):
        mark(pairs, at=at)
        deleter = threading.Thread(target=_delete_group, args=(group.pk,))
        deleter.start()
        deleter.join(30)
        assert not deleter.is_alive(), "the delete waited for the digest"

    monkeypatch.setattr(digest_service, "entries_mark_digested", mark_then_delete_the_group)
    with pytest.raises(digest_service.GroupGone):
        digest_batch(limit=100)
    monkeypatch.undo()
    assert not quarantined_entries().exists()
    assert ErrorLogEntry.objects.filter(digested_at=None).count() == 3
    assert digest_batch(limit=100).entries == 3
    assert list(ErrorGroup.objects.values_list("times_seen", flat=True)) == [3]


def _delete_group(pk: int) -> None:
    try:
        ErrorGroup.objects.filter(pk=pk).delete()
    finally:
        connections.close_all()


def test_reads_readyz_and_the_lag_leave_the_quarantined_row_out(
    postgres, service, service_client, settings
):
    settings.CELERY_BROKER_URL = "memory://"
    settings.READYZ_MAX_DIGEST_LAG_SECONDS = 300
    bad = hostile_entry(service, received_at=timezone.now() - timedelta(days=1))
    digest_batch(limit=100)

    assert oldest_pending_received_at() is None  # set aside, not late
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["digest"] == "ok"

    # The API reads it with its repaired timestamp (received_at).
    response = service_client.get("/api/v1/errors/")
    assert response.status_code == 200, response.content
    [row] = response.json()["results"]
    assert row["id"] == bad
    assert row["timestamp"] == row["received_at"]
    assert service_client.get(f"/api/v1/errors/{bad}/").status_code == 200


def test_metrics_count_the_quarantined_entries(postgres, service, settings):
    settings.METRICS_TOKEN = "scrape-token"
    hostile_entry(service)
    hostile_entry(service)
    ErrorLogEntryFactory(service=service)
    digest_batch(limit=100)
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token")
    assert response.status_code == 200
    text = response.content.decode()
    assert "faultline_entries_quarantined 2.0" in text
    assert 'faultline_scrape_error{section="quarantine"} 0.0' in text


def test_the_admin_filters_quarantined_entries_and_lists_their_reasons(
    postgres, client, viewer, service
):
    fine = ErrorLogEntryFactory(service=service)
    bad = hostile_entry(service)
    odd = _stored_with(ErrorLogEntryFactory(service=service), "severity", "BOGUS")
    digest_batch(limit=100)
    client.force_login(viewer)

    page = client.get(CHANGELIST, {"quarantine": "yes"})
    assert page.status_code == 200
    shown = {e.pk for e in page.context["cl"].result_list}
    assert shown == {bad, odd}
    content = page.content.decode()
    assert "year -1 is out of range" in content
    assert "ValueError: &#x27;BOGUS&#x27; is not a valid Severity (1)" in content

    reason = ErrorLogEntry.objects.get(pk=odd).quarantine_reason
    page = client.get(CHANGELIST, {"quarantine": f"reason:{reason}"})
    assert {e.pk for e in page.context["cl"].result_list} == {odd}
    page = client.get(CHANGELIST, {"quarantine": "no"})
    assert {e.pk for e in page.context["cl"].result_list} == {fine.pk}

    detail = client.get(reverse("admin:resilience_errorlogentry_change", args=[bad]))
    assert detail.status_code == 200
    assert "replaced by received_at" in detail.content.decode()


def test_a_triager_releases_an_entry_and_the_digest_takes_it(
    postgres, client, triager, viewer, service
):
    bad = hostile_entry(service)
    digest_batch(limit=100)
    action = {"action": "release_from_quarantine", "_selected_action": [bad]}

    client.force_login(viewer)  # may look, may not release
    client.post(CHANGELIST, action)
    assert quarantined_entries().filter(pk=bad).exists()

    client.force_login(triager)
    response = client.post(CHANGELIST, action, follow=True)
    assert "Released 1 entry to the digest." in response.content.decode()
    assert not quarantined_entries().exists()
    audit = AuditEvent.objects.get(action="entry.quarantine_release")
    assert audit.actor == triager and audit.detail == {"ids": [bad], "count": 1}

    result = digest_batch(limit=100)
    assert result.entries == 1
    entry = ErrorLogEntry.objects.get(pk=bad)
    assert entry.digested_at is not None
    assert entry.group.times_seen == 1
    assert entry.group.first_seen == entry.received_at  # the repaired timestamp


def test_the_migration_repairs_rows_stored_before_it(postgres, service, service_client):
    """Rows stored before the fix: GET /api/v1/errors/ failed on them until the digest
    ran, and the digest never could. The migration gives them the digest's treatment."""
    migration = importlib.import_module("resilience.migrations.0010_entry_quarantine")
    pending = hostile_entry(service)
    digested = hostile_entry(service, digested_at=timezone.now())
    fine = ErrorLogEntryFactory(service=service)

    with connection.schema_editor() as editor:
        migration.repair_unreadable_timestamps(apps, editor)

    assert service_client.get("/api/v1/errors/").status_code == 200
    rows = {e.pk: e for e in ErrorLogEntry.objects.all()}
    assert rows[pending].quarantined_at is not None
    assert rows[pending].timestamp == rows[pending].received_at
    assert "0001-12-31 10:00:00 BC" in rows[pending].quarantine_reason
    assert rows[digested].timestamp == rows[digested].received_at
    assert rows[digested].quarantined_at is None  # nothing to set aside: it is digested
    assert rows[fine.pk].quarantined_at is None and rows[fine.pk].quarantine_reason == ""
    assert rows[fine.pk].timestamp == fine.timestamp
