"""Every figure of the seed's ErrorMetricsCollector, on known data, against a line-by-line
port of the seed's queries and formulas (`SeedCollector` below)."""

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from resilience.core.health_score import hour_floor
from resilience.digest.service import digest_batch
from resilience.handling.outcomes import entry_outcome_record
from resilience.models import ErrorLogEntry
from resilience.observability.dashboard import metrics_summary
from tests import factories
from tests.resilience.dashboard.test_health_score import seed_health_score, seed_recovery_rate
from tests.sentry.envelopes import exception_event


@dataclass
class SeedCollector:
    """collectErrorMetrics over error_metrics rows and error_handling_results rows."""

    entries: list[ErrorLogEntry]  # the range's rows: timestamps already in [start, end]

    def code(self, e: ErrorLogEntry) -> str:
        return e.code or e.name or "UNKNOWN_ERROR"  # extractErrorCode (status/errno aside)

    def errors_by_category(self) -> dict[str, int]:  # GROUP BY category
        return dict(Counter(e.category for e in self.entries))

    def errors_by_severity(self) -> dict[str, int]:  # ORDER BY CASE CRITICAL 1 … LOW 4
        counts = Counter(e.severity for e in self.entries)
        return {s: counts[s] for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW") if counts[s]}

    def error_trends(self) -> list[tuple[datetime, int]]:  # DATE_TRUNC('hour'), ORDER BY hour
        return sorted(Counter(hour_floor(e.timestamp) for e in self.entries).items())

    def top_errors(self, limit: int = 10) -> list[tuple[str, int, datetime]]:
        counts = Counter(self.code(e) for e in self.entries)
        last = {}
        for e in self.entries:
            last[self.code(e)] = max(last.get(self.code(e), e.timestamp), e.timestamp)
        # ORDER BY count DESC (the seed leaves ties open; Faultline: latest first)
        ranked = sorted(counts, key=lambda c: (-counts[c], -last[c].timestamp()))
        return [(c, counts[c], last[c]) for c in ranked[:limit]]

    def recovery_rate(self) -> float:
        return seed_recovery_rate([(e.strategy, e.outcome == "SUCCEEDED")
                                   for e in self.entries])

    def health_score(self) -> float:
        return seed_health_score(len(self.entries), self.recovery_rate())


def make(now, minutes_ago, *, outcome=None, **fields):
    entry = factories.ErrorLogEntryFactory(timestamp=now - timedelta(minutes=minutes_ago),
                                           **fields)
    return entry, outcome


@pytest.fixture
def known(db):
    """413 errors in the last hour (and one 3 hours ago), outcomes reported before and after
    the digest."""
    now = timezone.now()
    service = factories.ServiceFactory(slug="shop")
    rows = [
        *[make(now, 50 - i, service=service, code="ECONNREFUSED", category="TRANSIENT",
               severity="MEDIUM", strategy="RETRY", outcome=o)
          for i, o in enumerate([True, True, False, None])],
        *[make(now, 40 - i, service=service, code="503", category="EXTERNAL_DEPENDENCY",
               severity="HIGH", strategy="FALLBACK", outcome=o)
          for i, o in enumerate([True, None, None])],
        # A Sentry-style event: no code, only the exception type.
        *[make(now, 30 - i, service=service, code="", name="KeyError", category="PERMANENT",
               severity="HIGH", strategy="DEAD_LETTER", message="'currency'", outcome=o)
          for i, o in enumerate([False, None])],
        make(now, 20, service=service, code="KeyError", name="", category="PERMANENT",
             severity="LOW", strategy="FALLBACK", outcome=True),
        # Successes of other strategies are results, never recoveries (the seed's CASE).
        *[make(now, 15 - i, service=service, code="PermissionDenied", category="SECURITY",
               severity="CRITICAL", strategy="IMMEDIATE_ALERT", outcome=o)
          for i, o in enumerate([True, None])],
        make(now, 10, service=service, code="ETIMEDOUT", category="TRANSIENT",
             severity="MEDIUM", strategy="CIRCUIT_BREAK", outcome=True),
        make(now, 60 * 3 + 5, service=service, code="OLD", outcome=True),  # outside 1h
    ]
    bulk = [factories.ErrorLogEntryFactory.build(
        service=service, timestamp=now - timedelta(minutes=1 + i % 45), code="ValidationError",
        category="BUSINESS_LOGIC", severity="LOW", strategy="DEAD_LETTER") for i in range(400)]
    ErrorLogEntry.objects.bulk_create(bulk)
    for n, (entry, outcome) in enumerate(rows):
        if outcome is not None and n % 2:  # half before the digest, half after
            entry_outcome_record(entry_id=entry.pk, succeeded=outcome)
    digest_batch(limit=10_000)
    for n, (entry, outcome) in enumerate(rows):
        if outcome is not None and not n % 2:
            entry_outcome_record(entry_id=entry.pk, succeeded=outcome)
    entries = list(ErrorLogEntry.objects.filter(timestamp__gte=now - timedelta(hours=1)))
    assert len(entries) == 413
    return now, SeedCollector(entries)


def test_every_figure_is_the_seeds_on_known_data(known):
    now, seed = known
    m = metrics_summary(range_="1h", now=now)

    assert m["range"] == "1h"
    assert m["total"] == len(seed.entries) == 413
    non_zero = [(r["category"], r["count"]) for r in m["by_category"] if r["count"]]
    # ORDER BY count DESC; the seed leaves ties open, Faultline keeps the category order.
    assert dict(non_zero) == seed.errors_by_category()
    assert non_zero == [("BUSINESS_LOGIC", 400), ("TRANSIENT", 5), ("PERMANENT", 3),
                        ("EXTERNAL_DEPENDENCY", 3), ("SECURITY", 2)]
    assert [(r["severity"], r["count"]) for r in m["by_severity"]] == list(
        seed.errors_by_severity().items()) == [("CRITICAL", 2), ("HIGH", 5), ("MEDIUM", 5),
                                               ("LOW", 401)]
    assert [(p["hour"], p["count"]) for p in m["trend"] if p["count"]] == [
        (hour.isoformat(), n) for hour, n in seed.error_trends()]
    assert [(c["code"], c["count"], c["last_seen"]) for c in m["top_codes"]] == [
        (code, n, last.isoformat()) for code, n, last in seed.top_errors()]
    assert [(c["code"], c["count"]) for c in m["top_codes"]][:3] == [
        ("ValidationError", 400), ("ECONNREFUSED", 4), ("KeyError", 3)]

    # Recovered: 2 RETRY + 1 FALLBACK (503) + 1 FALLBACK (KeyError); of 413 results.
    assert seed.recovery_rate() == pytest.approx(4 / 413 * 100)
    assert m["recovery_rate"] == m["recovery"]["rate"] == round(seed.recovery_rate(), 2)
    assert m["recovery"]["results"] == 413 and m["recovery"]["succeeded"] == 4
    assert m["recovery"]["reported"] == 8 and m["recovery"]["note"] == ""
    # 100 - min(41.3, 50) + 0.9685 * 0.5
    assert m["health_score"] == pytest.approx(seed.health_score(), abs=0.005)
    assert m["health_score"] == pytest.approx(59.18, abs=0.005)
    assert m["health_score_inputs"] == {"total_errors": 413,
                                        "recovery_rate": round(seed.recovery_rate(), 2)}


def test_the_top_errors_are_ten_codes_most_first(db):
    now = timezone.now()
    service = factories.ServiceFactory()
    ErrorLogEntry.objects.bulk_create([
        factories.ErrorLogEntryFactory.build(service=service, code=f"E{n:02}",
                                             timestamp=now - timedelta(minutes=n))
        for n in range(1, 13) for _ in range(n)
    ])
    digest_batch(limit=1000)
    seed = SeedCollector(list(ErrorLogEntry.objects.all()))
    top = metrics_summary(range_="1h", now=now)["top_codes"]
    assert [(c["code"], c["count"]) for c in top] == [(f"E{n:02}", n) for n in range(12, 2, -1)]
    assert [(c["code"], c["count"], c["last_seen"]) for c in top] == [
        (code, n, last.isoformat()) for code, n, last in seed.top_errors()]


def test_with_no_outcome_reported_the_rate_is_null_and_the_score_uses_the_seeds_zero(db):
    now = timezone.now()
    for strategy in ("RETRY", "FALLBACK", "DEAD_LETTER"):
        factories.ErrorLogEntryFactory(strategy=strategy, timestamp=now - timedelta(minutes=5))
    digest_batch(limit=10)
    m = metrics_summary(range_="1h", now=now)
    assert m["recovery_rate"] is None and m["recovery"]["rate"] is None
    assert m["recovery"]["note"] == "no outcomes reported"
    assert m["health_score_inputs"] == {"total_errors": 3, "recovery_rate": 0.0}
    assert m["health_score"] == pytest.approx(seed_health_score(3, 0)) == 99.7


def test_the_seeds_zero_rate_is_restored_by_a_setting(db, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "METRICS_NO_OUTCOMES_AS_NULL": False}
    now = timezone.now()
    factories.ErrorLogEntryFactory(strategy="RETRY", timestamp=now - timedelta(minutes=5))
    digest_batch(limit=10)
    m = metrics_summary(range_="1h", now=now)
    assert m["recovery_rate"] == m["recovery"]["rate"] == 0.0
    assert m["recovery"]["note"] == ""
    assert m["health_score"] == pytest.approx(seed_health_score(1, 0))
    assert metrics_summary(range_="1h", now=now - timedelta(days=3))["recovery_rate"] == 0.0


def test_a_failure_reported_is_an_outcome_and_the_rate_is_a_real_zero(db):
    now = timezone.now()
    entry = factories.ErrorLogEntryFactory(strategy="RETRY", timestamp=now - timedelta(minutes=5))
    digest_batch(limit=10)
    entry_outcome_record(entry_id=entry.pk, succeeded=False)
    m = metrics_summary(range_="1h", now=now)
    assert m["recovery_rate"] == 0.0 and m["recovery"]["note"] == ""


def test_a_sentry_event_without_a_code_shows_its_exception_type(db, viewer):
    service = factories.ServiceFactory()
    key = factories.service_key(service)[0]
    event = exception_event(type_="ZeroDivisionError", value="division by zero")
    response = Client().post(
        f"/api/{service.pk}/store/", data=json.dumps(event), content_type="application/json",
        HTTP_X_SENTRY_AUTH=f"Sentry sentry_version=7, sentry_key={key.public_key}")
    assert response.status_code == 200, response.content
    assert ErrorLogEntry.objects.get().code == ""
    digest_batch(limit=10)
    codes = metrics_summary(range_="1h")["top_codes"]
    assert [(c["code"], c["count"]) for c in codes] == [("ZeroDivisionError", 1)]
    client = Client()
    client.force_login(viewer)
    html = client.get("/admin/dashboard/").content.decode()
    assert "<td>ZeroDivisionError</td>" in html
