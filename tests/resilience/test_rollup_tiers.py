"""The rollup tiers (hour totals, day totals, day groups) stay the sums of the hourly rollups
through every writer: the digest, the outcomes, deletions of groups and services, the
rebuild (command and migration). The clean-up's whole days: tests/recovery/test_cleanup.py."""

import importlib
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from resilience.core.health_score import hour_floor
from resilience.core.rollup_days import day_floor
from resilience.digest.service import digest_batch
from resilience.handling.outcomes import entry_outcome_record
from resilience.models import (
    ErrorGroup,
    ErrorMetric,
    MetricDayGroup,
    MetricDayTotal,
    MetricHourTotal,
)
from tests import factories

MIDNIGHT = datetime(2026, 11, 27, tzinfo=UTC)
# Both sides of two UTC midnights, and one exactly on one.
STAMPS = [MIDNIGHT - timedelta(minutes=1), MIDNIGHT, MIDNIGHT + timedelta(minutes=59),
          MIDNIGHT + timedelta(hours=23, minutes=59, seconds=59), MIDNIGHT + timedelta(days=1),
          MIDNIGHT - timedelta(hours=30)]
TIERS = (MetricHourTotal, MetricDayTotal, MetricDayGroup)


def _sums(rows, key_of, *, outcomes: bool, last_seen: bool) -> dict:
    sums: dict = defaultdict(lambda: [0, 0, 0, None])
    for row in rows:
        s = sums[key_of(row)]
        s[0] += row["count"]
        if outcomes:
            s[1] += row["succeeded"]
            s[2] += row["failed"]
        if last_seen:
            s[3] = max(filter(None, (s[3], row["last_seen"])))
    return {key: tuple(s) for key, s in sums.items()}


def tiers_from_hours() -> dict:
    """What each tier must hold: the hourly rows summed by its key."""
    hours = list(ErrorMetric.objects.values())
    return {
        "hour": _sums(hours, lambda r: (r["bucket"], r["service_id"], r["environment"]),
                      outcomes=False, last_seen=False),
        "day_total": _sums(hours, lambda r: (
            day_floor(r["bucket"]), r["service_id"], r["environment"], r["category"],
            r["severity"], r["strategy"], r["code"], r["group_id"] if r["code"] == "" else 0),
            outcomes=True, last_seen=True),
        "day_group": _sums(hours, lambda r: (
            day_floor(r["bucket"]), r["group_id"], r["environment"], r["service_id"]),
            outcomes=False, last_seen=True),
    }


def tiers_stored() -> dict:
    def rows(model, key, outcomes, last_seen=True):
        return {tuple(r[k] for k in key):
                (r["count"], r["succeeded"] if outcomes else 0, r["failed"] if outcomes else 0,
                 r["last_seen"] if last_seen else None)
                for r in model.objects.values()}

    return {
        "hour": rows(MetricHourTotal, ("bucket", "service_id", "environment"), False, False),
        "day_total": rows(MetricDayTotal, ("bucket", "service_id", "environment", "category",
                                           "severity", "strategy", "code", "codeless_group"),
                          True),
        "day_group": rows(MetricDayGroup, ("bucket", "group_id", "environment", "service_id"),
                          False),
    }


def assert_in_step() -> None:
    stored = tiers_stored()
    assert stored == tiers_from_hours()
    assert all(stored.values())  # never two empty tables


@pytest.fixture
def digested(db):
    services = [factories.ServiceFactory(), factories.ServiceFactory()]
    entries = []
    for n, at in enumerate(STAMPS * 4):
        entries.append(factories.ErrorLogEntryFactory(
            service=services[n % 2], timestamp=at, code=["ETIMEDOUT", "503", ""][n % 3],
            name="KeyError", strategy=["RETRY", "FALLBACK"][n % 2],
            environment=["production", "staging"][n % 2], message=f"failure {n % 4}"))
    # One key twice in a batch, the later one second: the latest occurrence is not the first.
    for at in (MIDNIGHT + timedelta(hours=3), MIDNIGHT + timedelta(hours=20)):
        entries.append(factories.ErrorLogEntryFactory(
            service=services[0], timestamp=at, code="ETIMEDOUT", name="KeyError",
            strategy="RETRY", environment="production", message="failure 0"))
    for entry in entries[::3]:  # outcomes before the digest
        entry_outcome_record(entry_id=entry.pk, succeeded=True)
    digest_batch(limit=1000)
    return entries


def test_the_digest_writes_every_tier_as_the_sums_of_the_hours(digested):
    assert_in_step()
    assert MetricDayTotal.objects.exclude(codeless_group=0).exists()  # code-less rows too
    # Over more than one digest, the tiers add up like the hour rows.
    for at in STAMPS[:3]:
        factories.ErrorLogEntryFactory(service=digested[0].service, timestamp=at,
                                       code="ETIMEDOUT", strategy="RETRY",
                                       environment="production")
        digest_batch(limit=10)
    assert_in_step()
    days = {MIDNIGHT - timedelta(days=2), MIDNIGHT - timedelta(days=1), MIDNIGHT,
            MIDNIGHT + timedelta(days=1)}
    assert set(MetricDayTotal.objects.values_list("bucket", flat=True)) == days
    assert set(MetricDayGroup.objects.values_list("bucket", flat=True)) == days
    assert set(MetricHourTotal.objects.values_list("bucket", flat=True)) == {
        hour_floor(entry.timestamp) for entry in digested}


def test_outcomes_after_the_digest_move_the_day_totals(digested):
    for entry in digested[1::2]:
        entry_outcome_record(entry_id=entry.pk, succeeded=False)
    entry_outcome_record(entry_id=digested[3].pk, succeeded=True)  # flipped back
    assert_in_step()
    totals = MetricDayTotal.objects.values_list("succeeded", "failed")
    assert sum(ok for ok, _ in totals) and sum(ko for _, ko in totals)


def test_deleting_a_group_rebuilds_its_days_without_it(digested):
    # The admin's delete: the hourly rows and day groups cascade, and the totals, which sum
    # other groups too, are rebuilt from the hourly rows left (latest occurrence included).
    group = ErrorGroup.objects.filter(metrics__isnull=False, code="ETIMEDOUT").first()
    others = ErrorGroup.objects.filter(service=group.service).exclude(pk=group.pk)
    assert others.exists()  # the group shares its service's day totals with others
    before = MetricHourTotal.objects.filter(service=group.service).count()
    group.delete()
    assert not MetricDayGroup.objects.filter(group_id=group.pk).exists()
    assert_in_step()
    assert MetricHourTotal.objects.filter(service=group.service).count() <= before


def test_deleting_groups_in_bulk_or_a_code_less_one(digested):
    codeless = ErrorGroup.objects.filter(code="").first()
    ErrorGroup.objects.filter(pk=codeless.pk).delete()  # a queryset: the admin's action
    assert not MetricDayTotal.objects.filter(codeless_group=codeless.pk).exists()
    assert_in_step()
    ErrorGroup.objects.filter(service=digested[1].service, code="503").delete()
    assert_in_step()


def test_deleting_a_service_deletes_its_tier_rows(digested):
    service = digested[0].service
    service.delete()
    for model in TIERS:
        assert not model.objects.filter(service_id=service.pk).exists()
    assert_in_step()


def test_the_rebuild_command_puts_the_tiers_back_in_step(digested):
    # What digest workers of the previous version leave behind after `migrate`: hourly
    # rows without their tier rows, and tier rows missing an hour.
    for model in TIERS:
        model.objects.filter(bucket__gte=MIDNIGHT, bucket__lt=MIDNIGHT + timedelta(days=1)
                             ).delete()
        model.objects.filter(bucket__gte=MIDNIGHT + timedelta(days=1)).update(count=1)
    MetricDayTotal.objects.create(
        bucket=MIDNIGHT + timedelta(days=5), service=digested[0].service, category="TRANSIENT",
        severity="LOW", strategy="RETRY", count=7, last_seen=MIDNIGHT)
    out = io.StringIO()
    call_command("metric_days_rebuild", stdout=out)
    assert out.getvalue().startswith("rebuilt 8 day(s)")  # 25 Nov … 2 Dec
    assert_in_step()


def test_the_rebuild_of_the_last_days_leaves_older_days_alone(digested, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: MIDNIGHT + timedelta(days=1, hours=3))
    for model in TIERS:
        model.objects.update(count=0)
    call_command("metric_days_rebuild", "--days", "2", stdout=io.StringIO())
    for model in TIERS:
        rebuilt = {day_floor(b) for b in
                   model.objects.filter(count__gt=0).values_list("bucket", flat=True)}
        assert rebuilt == {MIDNIGHT, MIDNIGHT + timedelta(days=1)}, model


def test_the_migration_fills_the_tiers_from_the_hourly_rollups(postgresql_only, digested):
    migration = importlib.import_module("resilience.migrations.0022_rollup_tiers")
    for model in TIERS:
        model.objects.all().delete()
    with connection.schema_editor() as editor:
        migration.backfill(apps, editor)
    assert_in_step()
