"""/metrics: Prometheus text exposition, read from the database at scrape time.

Every figure comes from shared state (rollups, circuit mirror, dead letters, alert
deliveries), so every web process answers with the same numbers and none needs its own
counters. Process-local metrics (resilience/observability/process_metrics.py, e.g. dropped Sentry
items) are registered in prometheus_client's default registry and exposed alongside.

Cheap at scale: the event totals are sums over the hourly rollups. Rollups older than
SEALED_HOURS are summed once per hour and cached (the Django cache, Redis in production,
so one process pays for it); a scrape sums only the last SEALED_HOURS of rollups. An event
whose timestamp is older than that when it is digested shows up at the next hourly reseal.
Deleting old rollups lowers the totals, which Prometheus treats as a counter reset.

Text format: https://prometheus.io/docs/instrumenting/exposition_formats/
"""

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.apps import apps
from django.core.cache import cache
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

import resilience.observability.process_metrics  # noqa: F401 - registers the process-local counters
from resilience.core.health_score import hour_floor
from resilience.digest.quarantine import quarantined_entries
from resilience.digest.selectors import oldest_pending_received_at
from resilience.infra.cache_guard import cache_call
from resilience.models import CircuitState, DeadLetter, ErrorMetric, Service
from resilience.observability.probe_access import may_scrape

log = logging.getLogger("faultline.prometheus")

SEALED_HOURS = 24
_SEALED_CACHE_SECONDS = 2 * 3600
_TOTAL_FIELDS = ("service_id", "category", "severity", "strategy")

Row = tuple[int, str, str, str]  # (service_id, category, severity, strategy)


def _sum_rollups(**filters) -> dict[Row, tuple[int, int, int]]:
    rows = (
        ErrorMetric.objects.filter(**filters).order_by().values(*_TOTAL_FIELDS)
        .annotate(n=Sum("count"), ok=Sum("succeeded"), ko=Sum("failed"))
    )
    return {
        (r["service_id"], r["category"], r["severity"], r["strategy"]): (r["n"], r["ok"], r["ko"])
        for r in rows
    }


def rollup_totals(now: datetime) -> dict[Row, tuple[int, int, int]]:
    """(count, succeeded, failed) per service/category/severity/strategy, all time."""
    boundary = hour_floor(now) - timedelta(hours=SEALED_HOURS)
    key = f"faultline:prometheus:sealed:{boundary.isoformat()}"
    sealed = cache_call("metrics_cache", lambda: cache.get(key), default=None)
    if sealed is None:
        sealed = list(_sum_rollups(bucket__lt=boundary).items())
        cache_call("metrics_cache", lambda: cache.set(key, sealed, _SEALED_CACHE_SECONDS),
                   default=None)
    totals = dict(sealed)
    for row, (n, ok, ko) in _sum_rollups(bucket__gte=boundary).items():
        old = totals.get(row, (0, 0, 0))
        totals[row] = (old[0] + n, old[1] + ok, old[2] + ko)
    return totals


def _event_families(now: datetime) -> Iterator[Metric]:
    totals = rollup_totals(now)
    slugs = dict(Service.objects.values_list("id", "slug"))
    events = CounterMetricFamily(
        "faultline_events_ingested", "Error events, counted into the hourly rollups by the digest",
        labels=["service", "category", "severity"],
    )
    decisions = CounterMetricFamily(
        "faultline_decisions", "Decisions made for error events", labels=["service", "strategy"],
    )
    outcomes = CounterMetricFamily(
        "faultline_outcomes", "Outcomes reported after a decision",
        labels=["strategy", "outcome"],
    )
    by_event: dict[tuple[str, str, str], int] = {}
    by_decision: dict[tuple[str, str], int] = {}
    by_outcome: dict[tuple[str, str], int] = {}
    for (service_id, category, severity, strategy), (n, ok, ko) in totals.items():
        service = slugs.get(service_id, str(service_id))
        by_event[(service, category, severity)] = by_event.get((service, category, severity),
                                                               0) + n
        by_decision[(service, strategy)] = by_decision.get((service, strategy), 0) + n
        for outcome, value in (("SUCCEEDED", ok), ("FAILED", ko)):
            by_outcome[(strategy, outcome)] = by_outcome.get((strategy, outcome), 0) + value
    for labels, value in sorted(by_event.items()):
        events.add_metric(list(labels), value)
    for labels, value in sorted(by_decision.items()):
        decisions.add_metric(list(labels), value)
    for labels, value in sorted(by_outcome.items()):
        outcomes.add_metric(list(labels), value)
    yield events
    yield decisions
    yield outcomes


def _lag_family(now: datetime) -> Iterator[Metric]:
    oldest = oldest_pending_received_at()
    lag = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    yield GaugeMetricFamily(
        "faultline_digest_lag_seconds", "Age of the oldest entry not yet digested", value=lag
    )


def _quarantine_family(now: datetime) -> Iterator[Metric]:
    # Entries the digest set aside (services/quarantine.py): alert on any above zero.
    yield GaugeMetricFamily(
        "faultline_entries_quarantined", "Entries the digest could not process, set aside",
        value=quarantined_entries().count(),
    )


def _circuit_families(now: datetime) -> Iterator[Metric]:
    # Per-circuit series only for circuits that are not CLOSED, the CIRCUIT_METRICS_MAX_CIRCUITS
    # most urgent: a flood of operation names must not grow the scrape. The per-state counts
    # cover every circuit, and faultline_circuits_not_exported says what was left out.
    from resilience import conf
    from resilience.circuits.selectors import circuits_ordered

    per_circuit = GaugeMetricFamily(
        "faultline_circuit_state",
        "1 for the current state of each circuit that is not CLOSED, 0 for the others",
        labels=["service", "operation", "state"],
    )
    counts = dict.fromkeys(CircuitState.State.values, 0)
    for row in CircuitState.objects.order_by().values("state").annotate(n=Count("pk")):
        counts[row["state"]] = row["n"]
    limit = conf.get("CIRCUIT_METRICS_MAX_CIRCUITS")
    not_closed = CircuitState.objects.exclude(state=CircuitState.State.CLOSED)
    exported = circuits_ordered(not_closed).values_list("service__slug", "operation",
                                                        "state")[:limit]
    for service, operation, state in exported:
        for candidate in CircuitState.State.values:
            per_circuit.add_metric([service, operation, candidate],
                                   1.0 if candidate == state else 0.0)
    yield per_circuit
    circuits = GaugeMetricFamily("faultline_circuits", "Circuits per state", labels=["state"])
    for state, n in counts.items():
        circuits.add_metric([state], n)
    yield circuits
    not_closed_total = sum(n for state, n in counts.items() if state != "CLOSED")
    yield GaugeMetricFamily(
        "faultline_circuits_not_exported",
        "Circuits not CLOSED left out of faultline_circuit_state (CIRCUIT_METRICS_MAX_CIRCUITS)",
        value=max(0, not_closed_total - len(exported)),
    )


def _status_counts(model, name: str, documentation: str) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    counts = dict.fromkeys(
        (value for value, _ in model._meta.get_field("status").choices or ()), 0
    )
    for row in model.objects.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    for status, n in counts.items():
        family.add_metric([status], n)
    return family


def _dead_letter_families(now: datetime) -> Iterator[Metric]:
    yield _status_counts(DeadLetter, "faultline_dead_letters", "Dead letters per status")


def _alert_families(now: datetime) -> Iterator[Metric]:
    # The alerts app is optional here: read its delivery model only if it exists.
    if not apps.is_installed("alerts"):
        return
    try:
        model = apps.get_model("alerts", "AlertDelivery")
    except LookupError:
        return
    yield _status_counts(model, "faultline_alert_deliveries", "Alert deliveries per status")


def _spool_families(now: datetime) -> Iterator[Metric]:
    # This host's spool (resilience/ingest/spool/): reports kept while PostgreSQL was unavailable.
    # Read from the files, so it answers with the database down too.
    from resilience.ingest.spool import spool_status

    status = spool_status()
    yield GaugeMetricFamily("faultline_spool_bytes", "Bytes of reports in the local spool, "
                            "waiting for the database", value=status.bytes)
    yield GaugeMetricFamily("faultline_spool_segments", "Spool segment files not yet drained",
                            value=status.segments)
    yield GaugeMetricFamily("faultline_spool_age_seconds", "Age of the oldest spooled report",
                            value=status.age_seconds(now.timestamp()))


SECTIONS = {
    "spool": _spool_families,
    "events": _event_families,
    "digest": _lag_family,
    "quarantine": _quarantine_family,
    "circuits": _circuit_families,
    "dead_letters": _dead_letter_families,
    "alerts": _alert_families,
}


class FaultlineCollector:
    """Reads current values at scrape time; a failing section is reported, not fatal."""

    def describe(self) -> list[Metric]:
        return []  # nothing is read at registration time

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        errors = GaugeMetricFamily(
            "faultline_scrape_error", "1 when a section of this scrape could not be read",
            labels=["section"],
        )
        for section, read in SECTIONS.items():
            try:
                families = list(read(now))
            except Exception:
                log.exception("metrics section %s failed", section)
                errors.add_metric([section], 1.0)
                continue
            errors.add_metric([section], 0.0)
            yield from families
        yield errors


_collector = FaultlineCollector()
REGISTRY.register(_collector)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    # The access rule (token, or an allowed address that is not a proxy) is probe_access.py's.
    if not may_scrape(request):
        return HttpResponse(
            "Forbidden: send Authorization: Bearer <METRICS_TOKEN>, or scrape directly (no "
            "proxy) from an address in METRICS_ALLOWED_IPS.\n",
            status=403, content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
