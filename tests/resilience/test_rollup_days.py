"""The daily rollups stay the sums of the hourly ones through every writer: the digest, the
outcomes, deletions of groups and services, the rebuild (command and migration)."""

import importlib
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from resilience.core.rollup_days import day_floor
from resilience.digest.service import digest_batch
from resilience.handling.outcomes import entry_outcome_record
from resilience.models import ErrorGroup, ErrorMetric, ErrorMetricDay
from tests import factories

KEY = ("service_id", "group_id", "environment", "category", "severity", "code", "strategy")
MIDNIGHT = datetime(2026, 11, 27, tzinfo=UTC)
# Both sides of two UTC midnights, and one exactly on one.
STAMPS = [MIDNIGHT - timedelta(minutes=1), MIDNIGHT, MIDNIGHT + timedelta(minutes=59),
          MIDNIGHT + timedelta(hours=23, minutes=59, seconds=59), MIDNIGHT + timedelta(days=1),
          MIDNIGHT - timedelta(hours=30)]


def days_from_hours() -> dict:
    """What the daily rows must be: the hourly rows summed per UTC day and key."""
    days: dict = defaultdict(lambda: [0, 0, 0, None])
    for row in ErrorMetric.objects.values("bucket", *KEY, "count", "succeeded", "failed",
                                          "last_seen"):
        sums = days[(day_floor(row["bucket"]), *(row[k] for k in KEY))]
        sums[0] += row["count"]
        sums[1] += row["succeeded"]
        sums[2] += row["failed"]
        sums[3] = max(filter(None, (sums[3], row["last_seen"])))
    return {key: tuple(sums) for key, sums in days.items()}


def days_stored() -> dict:
    return {
        (row["bucket"], *(row[k] for k in KEY)):
            (row["count"], row["succeeded"], row["failed"], row["last_seen"])
        for row in ErrorMetricDay.objects.values("bucket", *KEY, "count", "succeeded",
                                                 "failed", "last_seen")
    }


def assert_in_step() -> None:
    stored = days_stored()
    assert stored == days_from_hours()
    assert stored  # never two empty tables


@pytest.fixture
def digested(db):
    services = [factories.ServiceFactory(), factories.ServiceFactory()]
    entries = []
    for n, at in enumerate(STAMPS * 4):
        entries.append(factories.ErrorLogEntryFactory(
            service=services[n % 2], timestamp=at, code=["ETIMEDOUT", "503", ""][n % 3],
            name="KeyError", strategy=["RETRY", "FALLBACK"][n % 2],
            environment=["production", "staging"][n % 2]))
    for entry in entries[::3]:  # outcomes before the digest
        entry_outcome_record(entry_id=entry.pk, succeeded=True)
    digest_batch(limit=1000)
    return entries


def test_the_digest_writes_each_day_row_as_the_sum_of_its_hours(digested):
    assert_in_step()
    # Over more than one digest, the day rows add up like the hour rows.
    for at in STAMPS[:3]:
        factories.ErrorLogEntryFactory(service=digested[0].service, timestamp=at,
                                       code="ETIMEDOUT", strategy="RETRY",
                                       environment="production")
        digest_batch(limit=10)
    assert_in_step()
    days = set(ErrorMetricDay.objects.values_list("bucket", flat=True))
    assert days == {MIDNIGHT - timedelta(days=2), MIDNIGHT - timedelta(days=1), MIDNIGHT,
                    MIDNIGHT + timedelta(days=1)}


def test_outcomes_after_the_digest_move_both_rows(digested):
    for entry in digested[1::2]:
        entry_outcome_record(entry_id=entry.pk, succeeded=False)
    entry_outcome_record(entry_id=digested[3].pk, succeeded=True)  # flipped back
    assert_in_step()
    totals = ErrorMetricDay.objects.values_list("succeeded", "failed")
    assert sum(ok for ok, _ in totals) and sum(ko for _, ko in totals)


def test_deleting_a_group_or_a_service_deletes_its_day_rows(digested):
    group = ErrorGroup.objects.filter(metrics__isnull=False).first()
    group.delete()  # the admin's delete: the foreign keys cascade
    assert not ErrorMetricDay.objects.filter(group_id=group.pk).exists()
    assert_in_step()
    service = digested[0].service
    service.delete()
    assert not ErrorMetricDay.objects.filter(service_id=service.pk).exists()
    assert_in_step()


def test_the_rebuild_command_puts_the_day_rows_back_in_step(digested):
    # What digest workers of the previous version leave behind after `migrate`: hourly
    # rows without their day rows, and a day row missing an hour.
    ErrorMetricDay.objects.filter(bucket=MIDNIGHT).delete()
    ErrorMetricDay.objects.filter(bucket=MIDNIGHT + timedelta(days=1)).update(count=1)
    ErrorMetricDay.objects.create(
        bucket=MIDNIGHT + timedelta(days=5), service=digested[0].service,
        group=ErrorGroup.objects.first(), category="TRANSIENT", severity="LOW",
        strategy="RETRY", count=7, last_seen=MIDNIGHT)
    out = io.StringIO()
    call_command("metric_days_rebuild", stdout=out)
    assert out.getvalue().startswith("rebuilt 8 day(s)")  # 25 Nov … 2 Dec
    assert_in_step()


def test_the_rebuild_of_the_last_days_leaves_older_days_alone(digested, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: MIDNIGHT + timedelta(days=1, hours=3))
    ErrorMetricDay.objects.update(count=0)
    call_command("metric_days_rebuild", "--days", "2", stdout=io.StringIO())
    rebuilt = set(ErrorMetricDay.objects.filter(count__gt=0).values_list("bucket", flat=True))
    assert rebuilt == {MIDNIGHT, MIDNIGHT + timedelta(days=1)}


def test_the_migration_fills_the_daily_rollups_from_the_hourly_ones(digested):
    migration = importlib.import_module("resilience.migrations.0021_daily_rollups")
    ErrorMetricDay.objects.all().delete()
    with connection.schema_editor() as editor:
        migration.backfill(apps, editor)
    assert_in_step()
