"""The dashboard's figures, read from the rollups (never the entries).

`metrics_summary()` answers everything `/api/v1/metrics/` and `/admin/dashboard/` show for
one range, the seed's ErrorMetricsCollector.collectErrorMetrics figure by figure: total,
by category (most first), by severity (CRITICAL, HIGH, MEDIUM, LOW), the hourly trend, the
top 10 codes with their last occurrence, the recovery rate and the health score; beyond
the seed, the top groups, the decisions by strategy and the live "system" figures (open
groups, digestion lag, open circuits, pending dead letters).

Ranges are Nm/Nh/Nd (`resilience.core.time_ranges`, default 1h as in the seed), widened to
whole hours: every hourly bucket that overlaps (now - range, now] counts in full
(`health_score.range_buckets`), and the trend always has one point per hour, also for
ranges under six hours (`"resolution": "hour"`).

On PostgreSQL the range is read from the rollup tiers that sum the hourly rollups
(resilience/digest/rollup_tiers.py), a statement per figure: the trend from the hour totals
(MetricHourTotal), the breakdowns, outcomes and top codes of whole UTC days from the day
totals (MetricDayTotal), the top groups of whole days from the day groups (MetricDayGroup),
and the hours before the first and after the last whole day from the hourly rollups
(ErrorMetric). A tier row is always the sum of its hour rows (every writer keeps them in
step), so the answer is the one the hourly rollups alone give (`hourly_only=True`; the
tests compare both). Elsewhere (SQLite) one query per breakdown over the hourly rollups.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Case, F, Max, Q, QuerySet, Sum, When
from django.utils import timezone

from resilience import conf
from resilience.core.classification import Category, Severity
from resilience.core.health_score import (
    health_score,
    range_buckets,
    recovery_rate,
    zero_filled_trend,
)
from resilience.core.rollup_days import range_split
from resilience.core.strategy import Strategy
from resilience.digest.selectors import oldest_pending_received_at
from resilience.groups.selectors import parse_metrics_range
from resilience.infra.cache_guard import cache_call
from resilience.models import (
    CircuitState,
    DeadLetter,
    ErrorGroup,
    ErrorMetric,
    MetricDayGroup,
    MetricDayTotal,
    MetricHourTotal,
)

SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
HANDLED_STRATEGIES = (Strategy.RETRY.value, Strategy.FALLBACK.value)
OPEN_CIRCUIT_STATES = (
    CircuitState.State.OPEN,
    CircuitState.State.HALF_OPEN,
    CircuitState.State.FORCED_OPEN,
)
TOP_N = 10
NO_OUTCOMES = "no outcomes reported"
# GROUPING(category, severity, strategy, group_id, code, codeless) of each set: a 1 bit
# for every column *not* grouped, first argument highest (category 32 … codeless 1); the
# trend's rows, read apart, are marked 64, which no set can give.
_BREAKDOWN, _GROUPS, _CODES, _BUCKETS = 0b000111, 0b111011, 0b111100, 0b1000000
# Per statement (SET LOCAL): the aggregation's hash tables stay in memory instead of
# spilling to disk, no JIT compilation (it cost more than it saved on these reads), and no
# parallel workers (on two cores busy serving requests, the top groups' partial
# aggregates took longer to gather and merge than one process took to aggregate).
_READ_SETTINGS = ("SET LOCAL work_mem = '32MB'", "SET LOCAL jit = off",
                  "SET LOCAL max_parallel_workers_per_gather = 0")


@dataclass(frozen=True)
class Scope:
    service_id: int | None = None
    environment: str | None = None


@dataclass
class _Rows:
    """The range's rollups, aggregated per breakdown."""

    # (category, severity, strategy) → [count, succeeded, failed]
    breakdown: dict[tuple[str, str, str], list[int]]
    trend: list[tuple[datetime, int]]
    top_groups: list[tuple[int, int, datetime]]  # (group_id, count, last_seen)
    # (code, count, last_seen); the code as the seed extracts it: the reported code, else
    # the exception type (the group's name), so code-less Sentry events show their type.
    top_codes: list[tuple[str, int, datetime]]


def _scoped(qs: QuerySet, scope: Scope) -> QuerySet:
    if scope.service_id is not None:
        qs = qs.filter(service_id=scope.service_id)
    if scope.environment is not None:
        qs = qs.filter(environment=scope.environment)
    return qs.order_by()


def _metric_rows(*, first: datetime, last: datetime, scope: Scope) -> QuerySet[ErrorMetric]:
    qs = ErrorMetric.objects.filter(bucket__gte=first, bucket__lt=last + timedelta(hours=1))
    return _scoped(qs, scope)


def _where(qs: QuerySet) -> tuple[str, list]:
    sql, params = qs.query.get_compiler(connection=connection).compile(qs.query.where)
    return sql, list(params)


def _top(rows: list[tuple[Any, int, datetime]]) -> list[tuple[Any, int, datetime]]:
    # Most occurrences first; ties broken by the latest occurrence, then the key.
    rows.sort(key=lambda r: (-r[1], -r[2].timestamp(), r[0]))
    return rows[:TOP_N]


def _read_portable(qs: QuerySet[ErrorMetric]) -> _Rows:
    breakdown = {
        (r["category"], r["severity"], r["strategy"]): [r["n"], r["ok"], r["ko"]]
        for r in qs.values("category", "severity", "strategy").annotate(
            n=Sum("count"), ok=Sum("succeeded"), ko=Sum("failed")
        )
    }
    trend = [(r["bucket"], r["n"]) for r in qs.values("bucket").annotate(n=Sum("count"))]
    groups = (
        qs.values("group_id").annotate(n=Sum("count"), last=Max("last_seen"))
        .order_by("-n", "-last", "group_id")[:TOP_N]
    )
    codes = (
        qs.annotate(label=Case(When(code="", then=F("group__name")), default=F("code")))
        .values("label").annotate(n=Sum("count"), last=Max("last_seen"))
        .order_by("-n", "-last", "label")[:TOP_N]
    )
    return _Rows(
        breakdown=breakdown,
        trend=trend,
        top_groups=[(r["group_id"], r["n"], r["last"]) for r in groups],
        top_codes=[(r["label"], r["n"], r["last"]) for r in codes],
    )


def _read_hourly(*, first: datetime, last: datetime, scope: Scope) -> _Rows:
    """One statement (PostgreSQL) over the range's hourly rollups alone: every breakdown
    from one pass, the trend beside it. The reference the tiers must equal."""
    hourly = ErrorMetric._meta.db_table
    columns = "category, severity, strategy, group_id, code, count, succeeded, failed, last_seen"
    where, params = _where(_metric_rows(first=first, last=last, scope=scope))
    groups_table = ErrorGroup._meta.db_table
    # Only the top rows of the group and code sets leave the database: a 30-day range can
    # touch tens of thousands of groups. Code-less rows are kept apart per group
    # (`codeless`) and take the group's exception type as their code after the
    # aggregation, so the join touches one row per such group, not one per rollup row.
    sql = (
        f"WITH src AS (SELECT {columns} FROM {hourly} WHERE {where}), "
        "sets AS (SELECT GROUPING(category, severity, strategy, group_id, code, codeless) "
        "AS mask, category, severity, strategy, group_id, code, codeless, "
        "SUM(count) AS n, SUM(succeeded) AS ok, SUM(failed) AS ko, MAX(last_seen) AS last "
        "FROM (SELECT src.*, CASE WHEN code = '' THEN group_id END AS codeless FROM src) s "
        "GROUP BY GROUPING SETS "
        "((category, severity, strategy), (group_id), (code, codeless))), "
        "ranked AS (SELECT sets.*, row_number() OVER (PARTITION BY mask "
        f"ORDER BY n DESC, last DESC, group_id) AS rn FROM sets WHERE mask <> {_CODES}), "
        "codes AS (SELECT CASE WHEN sets.code <> '' THEN sets.code "
        "ELSE COALESCE(g.name, '') END AS label, SUM(n) AS n, MAX(last) AS last "
        f"FROM sets LEFT JOIN {groups_table} g ON g.id = sets.codeless "
        f"WHERE mask = {_CODES} GROUP BY 1) "
        "SELECT mask, NULL::timestamptz, category, severity, strategy, group_id, code, n, ok, "
        f"ko, last FROM ranked WHERE mask = {_BREAKDOWN} OR rn <= {TOP_N} "
        f"UNION ALL (SELECT {_CODES}, NULL, NULL, NULL, NULL, NULL, label, n, 0, 0, last "
        f'FROM codes ORDER BY n DESC, last DESC, label COLLATE "C" LIMIT {TOP_N}) '
        f"UNION ALL SELECT {_BUCKETS}, bucket, NULL, NULL, NULL, NULL, NULL, SUM(count), 0, 0, "
        f"NULL FROM {hourly} WHERE {where} GROUP BY bucket"
    )
    breakdown: dict[tuple[str, str, str], list[int]] = {}
    trend: list[tuple[datetime, int]] = []
    groups: list[tuple[Any, int, datetime]] = []
    codes: list[tuple[Any, int, datetime]] = []
    only = {_BUCKETS: "bucket", _BREAKDOWN: "breakdown", _GROUPS: "group", _CODES: "code"}
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in _READ_SETTINGS:
            cursor.execute(setting)
        cursor.execute(sql, params + params)
        rows = cursor.fetchall()
    for (mask, bucket, category, severity, strategy, group_id, code, n, ok, ko,
         last) in rows:
        kind = only[mask]
        if kind == "bucket":
            trend.append((bucket, int(n)))
        elif kind == "breakdown":
            breakdown[(category, severity, strategy)] = [int(n), int(ok), int(ko)]
        elif kind == "group":
            groups.append((group_id, int(n), last))
        else:
            codes.append((code, int(n), last))
    return _Rows(breakdown=breakdown, trend=trend, top_groups=_top(groups),
                 top_codes=_top(codes))


def _read_tiers(*, first: datetime, last: datetime, scope: Scope) -> _Rows:
    """Three statements (PostgreSQL), each over the fewest rows its figures need: whole UTC
    days from the day tiers, the edge hours from the hourly rollups, the trend from the
    hour totals. A range with no whole day reads all its hours as edge hours."""
    end = last + timedelta(hours=1)
    split = range_split(start=first, end=end)
    edges, edge_params = _where(_scoped(ErrorMetric.objects.filter(
        Q(bucket__gte=split.start, bucket__lt=split.days_from)
        | Q(bucket__gte=split.days_until, bucket__lt=split.end)), scope))
    days = {"bucket__gte": split.days_from, "bucket__lt": split.days_until}
    totals, total_params = _where(_scoped(MetricDayTotal.objects.filter(**days), scope))
    day_groups, group_params = _where(_scoped(MetricDayGroup.objects.filter(**days), scope))
    hours, hour_params = _where(_scoped(MetricHourTotal.objects.filter(
        bucket__gte=first, bucket__lt=end), scope))
    hourly = ErrorMetric._meta.db_table
    # The breakdown (category, severity, strategy) and the codes, one pass over both
    # sources; a code-less code is the group's exception type, looked up by id after
    # aggregating (a join hashed every group for a handful of rows).
    breakdown_sql = (
        "WITH src AS (SELECT category, severity, strategy, code, "
        "CASE WHEN code = '' THEN group_id ELSE 0 END AS codeless, count, succeeded, failed, "
        f"last_seen FROM {hourly} WHERE {edges} UNION ALL SELECT category, severity, "
        "strategy, code, codeless_group, count, succeeded, failed, last_seen "
        f"FROM {MetricDayTotal._meta.db_table} WHERE {totals}), "
        "sets AS (SELECT GROUPING(category, severity, strategy) AS by_code, category, "
        "severity, strategy, code, codeless, SUM(count) AS n, SUM(succeeded) AS ok, "
        "SUM(failed) AS ko, MAX(last_seen) AS last FROM src "
        "GROUP BY GROUPING SETS ((category, severity, strategy), (code, codeless))), "
        "codes AS (SELECT CASE WHEN code <> '' THEN code ELSE COALESCE((SELECT g.name "
        f"FROM {ErrorGroup._meta.db_table} g WHERE g.id = codeless), '') END AS label, "
        "SUM(n) AS n, MAX(last) AS last FROM sets WHERE by_code <> 0 GROUP BY 1) "
        "SELECT false, category, severity, strategy, n, ok, ko, last FROM sets "
        "WHERE by_code = 0 UNION ALL (SELECT true, label, NULL, NULL, n, 0, 0, last "
        f'FROM codes ORDER BY n DESC, last DESC, label COLLATE "C" LIMIT {TOP_N})'
    )
    groups_sql = (
        "SELECT group_id, SUM(count) AS n, MAX(last_seen) AS last FROM ("
        f"SELECT group_id, count, last_seen FROM {hourly} WHERE {edges} UNION ALL "
        "SELECT group_id, count, last_seen "
        f"FROM {MetricDayGroup._meta.db_table} WHERE {day_groups}) s "
        f"GROUP BY group_id ORDER BY n DESC, last DESC, group_id LIMIT {TOP_N}"
    )
    trend_sql = (f"SELECT bucket, SUM(count) FROM {MetricHourTotal._meta.db_table} "
                 f"WHERE {hours} GROUP BY bucket")
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in _READ_SETTINGS:
            cursor.execute(setting)
        cursor.execute(breakdown_sql, edge_params + total_params)
        mixed = cursor.fetchall()
        cursor.execute(groups_sql, edge_params + group_params)
        groups = [(group_id, int(n), seen) for group_id, n, seen in cursor.fetchall()]
        cursor.execute(trend_sql, hour_params)
        trend = [(bucket, int(n)) for bucket, n in cursor.fetchall()]
    breakdown = {(category, severity, strategy): [int(n), int(ok), int(ko)]
                 for is_code, category, severity, strategy, n, ok, ko, _ in mixed
                 if not is_code}
    codes = [(label, int(n), seen) for is_code, label, _, _, n, _, _, seen in mixed if is_code]
    return _Rows(breakdown=breakdown, trend=trend, top_groups=_top(groups),
                 top_codes=_top(codes))


def _group_details(ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = ErrorGroup.objects.filter(pk__in=ids).values(
        "id", "title", "status", "severity", "category", "service__slug"
    )
    return {r["id"]: r for r in rows}


def system_figures(*, scope: Scope, now: datetime) -> dict[str, Any]:
    """Live figures that are not per range: each one cheap (an index or a small table)."""
    groups = ErrorGroup.objects.filter(status=ErrorGroup.Status.OPEN)
    letters = DeadLetter.objects.filter(status=DeadLetter.Status.PENDING)
    if scope.service_id is not None:
        groups = groups.filter(service_id=scope.service_id)
        letters = letters.filter(service_id=scope.service_id)
    if scope.environment is not None:
        groups = groups.filter(environment=scope.environment)
    oldest = oldest_pending_received_at()
    return {
        "open_groups": groups.count(),
        "digest_lag_seconds": round(max((now - oldest).total_seconds(), 0.0), 1)
        if oldest else 0.0,
        # Circuits are per operation, shared by every service: never scoped.
        "open_circuits": CircuitState.objects.filter(state__in=OPEN_CIRCUIT_STATES).count(),
        "pending_dead_letters": letters.count(),
        # This host's spool (reports kept while the database was down): never scoped.
        **_spool_figures(),
    }


def _spool_figures() -> dict[str, Any]:
    from resilience.ingest.spool import spool_status

    status = spool_status()
    return {"spool_bytes": status.bytes,
            "spool_age_seconds": round(status.age_seconds(time.time()), 1)}


def metrics_summary_cached(*, range_: str, scope: Scope | None = None) -> dict[str, Any]:
    """metrics_summary() as the API and the dashboard serve it.

    The range figures are kept in the cache (Redis in production, so shared by every
    process) for METRICS_CACHE_SECONDS (30 s, the dashboard's refresh; 0 turns it off): an
    open dashboard, or twenty of them, costs one read of the range's rollups per range and
    scope every 30 s. The "system" figures (lag, circuits, dead letters, open groups) are
    always read live.
    """
    seconds = getattr(settings, "METRICS_CACHE_SECONDS", 30)
    scope = scope or Scope()
    now = timezone.now()
    if not seconds:
        return metrics_summary(range_=range_, scope=scope, now=now)
    # A bad range is refused before the cache is asked; keyed by span, so "24h" and "1d"
    # (or, with the seed's reading, every unreadable range) share one entry.
    span = parse_metrics_range(range_)
    key = (f"faultline:metrics:{int(span.total_seconds())}:{scope.service_id}:"
           f"{scope.environment}:{conf.get('METRICS_NO_OUTCOMES_AS_NULL')}")
    # Redis down: the figures are read from the database (fail open, counted).
    summary = cache_call("metrics_cache", lambda: cache.get(key), default=None)
    if summary is None:
        summary = metrics_summary(range_=range_, scope=scope, now=now, system=False)
        cache_call("metrics_cache", lambda: cache.set(key, summary, seconds), default=None)
    return {**summary, "range": range_, "system": system_figures(scope=scope, now=now)}


def _recovery(breakdown: dict[tuple[str, str, str], list[int]], total: int) -> dict[str, Any]:
    """The seed's getRecoveryRate over the rollups' outcome counters.

    Every decision is a handling result (the seed's COUNT(*)); recovered are RETRY and
    FALLBACK decisions reported a success. With no outcome reported at all the rate is
    None and `note` says so (METRICS_NO_OUTCOMES_AS_NULL; off, it is the seed's 0).
    """
    handled = succeeded = failed = reported = 0
    for (_, _, strategy), (n, ok, ko) in breakdown.items():
        reported += ok + ko
        if strategy in HANDLED_STRATEGIES:
            handled += n
            succeeded += ok
            failed += ko
    rate: float | None = recovery_rate(recovered=succeeded, results=total)
    if reported == 0 and conf.get("METRICS_NO_OUTCOMES_AS_NULL"):
        rate = None
    return {
        "results": total,
        "handled": handled,
        "succeeded": succeeded,
        "failed": failed,
        "unknown": handled - succeeded - failed,
        "reported": reported,
        "rate": rate,
        "note": NO_OUTCOMES if rate is None else "",
    }


def metrics_summary(
    *, range_: str, scope: Scope | None = None, now: datetime | None = None,
    system: bool = True, hourly_only: bool = False,
) -> dict[str, Any]:
    """Every dashboard figure for one range. Raises selectors.BadRange for a bad one
    (unless METRICS_REFUSE_BAD_RANGE is off: then it is the seed's one hour).

    `hourly_only=True` reads the hourly rollups alone: the reference the tiers must equal
    (the tests compare both)."""
    span: timedelta = parse_metrics_range(range_)
    scope = scope or Scope()
    now = now or timezone.now()
    first, last = range_buckets(now=now, span=span)
    if connection.vendor == "postgresql":
        read = _read_hourly if hourly_only else _read_tiers
        rows = read(first=first, last=last, scope=scope)
    else:
        rows = _read_portable(_metric_rows(first=first, last=last, scope=scope))

    by_category = dict.fromkeys((c.value for c in Category), 0)
    by_severity = dict.fromkeys((s.value for s in SEVERITY_ORDER), 0)
    by_strategy = dict.fromkeys((s.value for s in Strategy), 0)
    for (category, severity, strategy), (n, _, _) in rows.breakdown.items():
        by_category[category] = by_category.get(category, 0) + n
        by_severity[severity] = by_severity.get(severity, 0) + n
        by_strategy[strategy] = by_strategy.get(strategy, 0) + n
    total = sum(by_category.values())
    recovery = _recovery(rows.breakdown, total)
    # The score takes the rate unrounded, and 0 for "no outcomes reported" (the seed's).
    rate_used = recovery["rate"] or 0.0
    details = _group_details([g for g, _, _ in rows.top_groups])

    return {
        "range": range_,
        "resolution": "hour",
        "since": first.isoformat(),
        "until": (last + timedelta(hours=1)).isoformat(),
        "generated_at": now.isoformat(),
        "service": scope.service_id,
        "environment": scope.environment,
        "total": total,
        # The seed's ORDER BY count DESC; ties (and empty categories) in the seed's order.
        "by_category": [
            {"category": k, "count": v}
            for k, v in sorted(by_category.items(), key=lambda item: -item[1])
        ],
        "by_severity": [{"severity": k, "count": v} for k, v in by_severity.items()],
        "by_strategy": [{"strategy": k, "count": v} for k, v in by_strategy.items()],
        "trend": [
            {"hour": hour.isoformat(), "count": n}
            for hour, n in zero_filled_trend(rows.trend, first=first, last=last)
        ],
        "top_groups": [
            {
                "group": group_id,
                "title": details.get(group_id, {}).get("title", ""),
                "service": details.get(group_id, {}).get("service__slug", ""),
                "status": details.get(group_id, {}).get("status", ""),
                "severity": details.get(group_id, {}).get("severity", ""),
                "count": n,
                "last_seen": last_seen.isoformat(),
            }
            for group_id, n, last_seen in rows.top_groups
        ],
        "top_codes": [
            {"code": code or "", "count": n, "last_seen": last_seen.isoformat()}
            for code, n, last_seen in rows.top_codes
        ],
        "recovery": {**recovery, "rate": _rounded(recovery["rate"])},
        "recovery_rate": _rounded(recovery["rate"]),
        "health_score": round(health_score(total=total, recovery_rate_percent=rate_used), 2),
        "health_score_inputs": {"total_errors": total, "recovery_rate": _rounded(rate_used)},
        "system": system_figures(scope=scope, now=now) if system else None,
    }


def _rounded(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 2)
