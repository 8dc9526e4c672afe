"""metrics_summary() read from the rollups equals a direct computation over the entries."""

from collections import Counter
from datetime import timedelta

import pytest

from resilience.health_score import health_score, hour_floor
from resilience.models import ErrorMetric
from resilience.selectors import RANGES, BadRange, parse_range
from resilience.selectors_metrics import Scope, metrics_summary
from resilience.services.digest import digest_batch
from resilience.services.outcomes import entry_outcome_record
from tests import factories


def in_range(entries, now, range_, service_id=None, environment=None):
    first = hour_floor(now - parse_range(range_))
    last = hour_floor(now)
    return [
        e for e in entries
        if first <= hour_floor(e.timestamp) <= last
        and (service_id is None or e.service_id == service_id)
        and (environment is None or e.environment == environment)
    ]


def check_top(returned, entries, key):
    counts = Counter(getattr(e, key) for e in entries)
    last_seen = {}
    for e in entries:
        k = getattr(e, key)
        last_seen[k] = max(last_seen.get(k, e.timestamp), e.timestamp)
    assert len(returned) == min(10, len(counts))
    name = "group" if key == "group_id" else "code"
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
    by_severity = Counter(e.severity for e in entries)
    assert [(r["severity"], r["count"]) for r in summary["by_severity"]] == [
        (s, by_severity.get(s, 0)) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")
    ]
    by_hour = Counter(hour_floor(e.timestamp).isoformat() for e in entries)
    assert summary["resolution"] == "hour"
    assert {p["hour"]: p["count"] for p in summary["trend"] if p["count"]} == dict(by_hour)
    hours = parse_range(range_) // timedelta(hours=1)
    assert len(summary["trend"]) in (hours + 1, max(hours, 1) + 1)
    check_top(summary["top_groups"], entries, "group_id")
    check_top(summary["top_codes"], entries, "code")

    handled = [e for e in entries if e.strategy in ("RETRY", "FALLBACK")]
    succeeded = sum(e.outcome == "SUCCEEDED" for e in handled)
    failed = sum(e.outcome == "FAILED" for e in handled)
    recovery = summary["recovery"]
    assert (recovery["handled"], recovery["succeeded"], recovery["failed"]) == (
        len(handled), succeeded, failed)
    assert recovery["unknown"] == len(handled) - succeeded - failed
    rate = round(100 * succeeded / len(handled), 2) if handled else None
    assert recovery["rate"] == rate
    assert summary["health_score"] == health_score(total=len(entries),
                                                   recovery_rate_percent=rate)


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
    assert summary["recovery"] == {"handled": 0, "succeeded": 0, "failed": 0, "unknown": 0,
                                   "rate": None}
    assert summary["health_score"] == 100.0


def test_entries_outside_the_range_do_not_count(db):
    from django.utils import timezone

    now = timezone.now()
    factories.ErrorLogEntryFactory(timestamp=now - timedelta(days=2))
    factories.ErrorLogEntryFactory(timestamp=now - timedelta(minutes=1))
    digest_batch(limit=10)
    assert metrics_summary(range_="24h", now=now)["total"] == 1
    assert metrics_summary(range_="7d", now=now)["total"] == 2


@pytest.mark.parametrize("value", ["", "2h", "1w", "24H", "30", "-1h", "all"])
def test_anything_but_the_listed_ranges_is_refused_with_the_list(value):
    with pytest.raises(BadRange) as raised:
        parse_range(value)
    for accepted in ("15m", "1h", "24h", "7d", "30d"):
        assert accepted in str(raised.value)


def test_the_accepted_ranges():
    assert {"15m", "1h", "24h", "7d", "30d"} <= set(RANGES)


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
