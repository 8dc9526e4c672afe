"""metrics_summary() read from the rollups equals a direct computation over the entries."""

from collections import Counter
from datetime import timedelta

import pytest

from resilience.core.health_score import hour_floor
from resilience.digest.service import digest_batch
from resilience.groups.selectors import RANGES, BadRange, parse_range
from resilience.handling.outcomes import entry_outcome_record
from resilience.models import ErrorGroup, ErrorMetric
from resilience.observability.dashboard import Scope, metrics_summary
from tests import factories
from tests.resilience.dashboard.test_health_score import seed_health_score, seed_recovery_rate


def in_range(entries, now, range_, service_id=None, environment=None):
    first = hour_floor(now - parse_range(range_))
    last = hour_floor(now)
    return [
        e for e in entries
        if first <= hour_floor(e.timestamp) <= last
        and (service_id is None or e.service_id == service_id)
        and (environment is None or e.environment == environment)
    ]


def check_top(returned, entries, key, name):
    counts = Counter(key(e) for e in entries)
    last_seen = {}
    for e in entries:
        k = key(e)
        last_seen[k] = max(last_seen.get(k, e.timestamp), e.timestamp)
    assert len(returned) == min(10, len(counts))
    for row in returned:
        assert row["count"] == counts[row[name]]
        assert row["last_seen"] == last_seen[row[name]].isoformat()
    floor = min(row["count"] for row in returned) if returned else 0
    must = {k for k, n in counts.items() if n > floor}
    assert must <= {row[name] for row in returned}
    assert [r["count"] for r in returned] == sorted((r["count"] for r in returned), reverse=True)


@pytest.mark.parametrize("range_", ["15m", "1h", "6h", "24h", "7d"])
@pytest.mark.parametrize("scoped", [False, True])
def test_every_figure_equals_a_direct_computation_over_the_entries(generated, range_, scoped):
    service_id = generated.services[0].pk if scoped else None
    environment = "production" if scoped else None
    summary = metrics_summary(range_=range_, now=generated.now,
                              scope=Scope(service_id=service_id, environment=environment))
    entries = in_range(generated.entries, generated.now, range_, service_id, environment)

    assert summary["total"] == len(entries)
    by_category = Counter(e.category for e in entries)
    assert {r["category"]: r["count"] for r in summary["by_category"]} == {
        c: by_category.get(c, 0) for c in
        ["TRANSIENT", "PERMANENT", "CONFIGURATION", "BUSINESS_LOGIC", "EXTERNAL_DEPENDENCY",
         "RESOURCE_EXHAUSTION", "SECURITY", "DATA_CORRUPTION"]
    }
    counts = [r["count"] for r in summary["by_category"]]
    assert counts == sorted(counts, reverse=True)
    by_severity = Counter(e.severity for e in entries)
    assert [(r["severity"], r["count"]) for r in summary["by_severity"]] == [
        (s, by_severity.get(s, 0)) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")
    ]
    by_hour = Counter(hour_floor(e.timestamp).isoformat() for e in entries)
    assert summary["resolution"] == "hour"
    assert {p["hour"]: p["count"] for p in summary["trend"] if p["count"]} == dict(by_hour)
    hours = parse_range(range_) // timedelta(hours=1)
    assert len(summary["trend"]) in (hours + 1, max(hours, 1) + 1)
    check_top(summary["top_groups"], entries, lambda e: e.group_id, "group")
    # The seed's code: the reported one, else the exception type (the group's name).
    type_of = dict(ErrorGroup.objects.values_list("id", "name"))
    check_top(summary["top_codes"], entries, lambda e: e.code or type_of[e.group_id], "code")

    handled = [e for e in entries if e.strategy in ("RETRY", "FALLBACK")]
    succeeded = sum(e.outcome == "SUCCEEDED" for e in handled)
    failed = sum(e.outcome == "FAILED" for e in handled)
    recovery = summary["recovery"]
    assert (recovery["handled"], recovery["succeeded"], recovery["failed"]) == (
        len(handled), succeeded, failed)
    assert recovery["unknown"] == len(handled) - succeeded - failed
    assert recovery["results"] == len(entries)
    assert recovery["reported"] == sum(e.outcome != "" for e in entries)
    # Every entry is a handling result: (strategy, reported a success).
    seed_rate = seed_recovery_rate([(e.strategy, e.outcome == "SUCCEEDED") for e in entries])
    reported = recovery["reported"] > 0
    assert recovery["rate"] == (round(seed_rate, 2) if reported else None)
    assert summary["recovery_rate"] == recovery["rate"]
    assert summary["health_score"] == pytest.approx(
        seed_health_score(len(entries), seed_rate), abs=0.005)


def test_the_generated_data_covers_what_it_claims(generated):
    entries = generated.entries
    assert {e.category for e in entries} >= {"TRANSIENT", "SECURITY", "DATA_CORRUPTION"}
    assert len({e.category for e in entries}) == 8
    assert len({e.severity for e in entries}) == 4
    assert len({hour_floor(e.timestamp) for e in entries}) > 40
    assert sum(e.outcome == "SUCCEEDED" for e in entries) > 20
    assert sum(e.outcome == "FAILED" for e in entries) > 20


def test_an_empty_range_is_all_zeros_with_a_full_trend(db):
    summary = metrics_summary(range_="6h")
    assert summary["total"] == 0
    assert all(r["count"] == 0 for r in summary["by_category"])
    assert [r["severity"] for r in summary["by_severity"]] == ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
    assert len(summary["trend"]) == 7 and all(p["count"] == 0 for p in summary["trend"])
    assert summary["top_groups"] == [] and summary["top_codes"] == []
    assert summary["recovery"] == {"results": 0, "handled": 0, "succeeded": 0, "failed": 0,
                                   "unknown": 0, "reported": 0, "rate": None,
                                   "note": "no outcomes reported"}
    assert summary["recovery_rate"] is None
    assert summary["health_score"] == 100.0
    assert summary["health_score_inputs"] == {"total_errors": 0, "recovery_rate": 0.0}


def test_entries_outside_the_range_do_not_count(db):
    from django.utils import timezone

    now = timezone.now()
    factories.ErrorLogEntryFactory(timestamp=now - timedelta(days=2))
    factories.ErrorLogEntryFactory(timestamp=now - timedelta(minutes=1))
    digest_batch(limit=10)
    assert metrics_summary(range_="24h", now=now)["total"] == 1
    assert metrics_summary(range_="7d", now=now)["total"] == 2


@pytest.mark.parametrize("value", ["", "1w", "24H", "30", "-1h", "all", "401d"])
def test_a_bad_range_is_refused_saying_what_is_accepted(db, value):
    with pytest.raises(BadRange) as raised:
        metrics_summary(range_=value)
    assert "15m, 1h, 6h, 24h, 7d, 30d" in str(raised.value) or "400d" in str(raised.value)


@pytest.mark.parametrize("value", ["", "1w", "24H", "all"])
def test_with_the_seeds_reading_a_bad_range_is_one_hour(db, settings, value):
    settings.FAULTLINE = {**settings.FAULTLINE, "METRICS_REFUSE_BAD_RANGE": False}
    from django.utils import timezone

    now = timezone.now()
    factories.ErrorLogEntryFactory(timestamp=now - timedelta(hours=3))
    factories.ErrorLogEntryFactory(timestamp=now - timedelta(minutes=1))
    digest_batch(limit=10)
    summary = metrics_summary(range_=value, now=now)
    assert summary["range"] == value  # the seed's timeRange is echoed as asked
    assert summary["total"] == 1
    assert summary["since"] == metrics_summary(range_="1h", now=now)["since"]


def test_any_number_of_minutes_hours_or_days_is_a_range(db):
    from django.utils import timezone

    now = timezone.now()
    for ago in (timedelta(minutes=1), timedelta(hours=3), timedelta(hours=50)):
        factories.ErrorLogEntryFactory(timestamp=now - ago)
    digest_batch(limit=10)
    assert metrics_summary(range_="1h", now=now)["total"] == 1
    assert metrics_summary(range_="5h", now=now)["total"] == 2
    assert metrics_summary(range_="3d", now=now)["total"] == 3
    assert metrics_summary(range_="300m", now=now)["since"] == metrics_summary(
        range_="5h", now=now)["since"]


def test_the_presets_are_the_one_table_the_admin_filters_use_too():
    from resilience.admin.filters import TIME_RANGES

    assert list(RANGES) == ["15m", "1h", "6h", "24h", "7d", "30d"]
    assert [(v, s) for v, _, s in TIME_RANGES] == list(RANGES.items())
    assert all(parse_range(v) == s for v, s in RANGES.items())


def rollup(entry):
    entry.refresh_from_db()
    return ErrorMetric.objects.get(bucket=hour_floor(entry.timestamp), group=entry.group_id,
                                   strategy=entry.strategy)


def test_an_outcome_before_the_digest_is_counted_by_the_digest(db):
    entry = factories.ErrorLogEntryFactory(strategy="FALLBACK")
    entry_outcome_record(entry_id=entry.pk, succeeded=True)
    digest_batch(limit=10)
    row = rollup(entry)
    assert (row.count, row.succeeded, row.failed) == (1, 1, 0)


def test_an_outcome_after_the_digest_updates_the_rollup_and_the_latest_wins(db):
    entry = factories.ErrorLogEntryFactory(strategy="RETRY")
    digest_batch(limit=10)
    first = entry_outcome_record(entry_id=entry.pk, succeeded=False)
    assert first.changed
    assert (rollup(entry).succeeded, rollup(entry).failed) == (0, 1)
    again = entry_outcome_record(entry_id=entry.pk, succeeded=False)
    assert not again.changed
    assert (rollup(entry).succeeded, rollup(entry).failed) == (0, 1)
    entry_outcome_record(entry_id=entry.pk, succeeded=True)
    assert (rollup(entry).succeeded, rollup(entry).failed) == (1, 0)
    entry.refresh_from_db()
    assert entry.outcome == "SUCCEEDED" and entry.outcome_at is not None
