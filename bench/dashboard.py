"""Dashboard benchmark: the metrics API and the admin changelists at 1M and 10M errors.

    .venv/bin/python bench/dashboard.py                      # both scales, 30 calls each
    .venv/bin/python bench/dashboard.py --scales 1m --iterations 50 --json /tmp/dash.json
    .venv/bin/python bench/dashboard.py --scales 10m --metrics-only --rotation day

It DROPS and recreates its own database (default faultline_bench_dashboard), migrates it,
then loads with SQL (INSERT … SELECT generate_series, no Python per row):

- rollups: ErrorMetric rows consistent with 1M (then 10M) entries over 30 days: every hour
  of 720 has the same number of keys (250 at 1M, 1,000 at 10M), their counts skewed (the
  first keys of an hour hold most errors) and summing exactly to the scale. The keys rotate
  from hour to hour (a pessimistic case: a day holds ~17 times an hour's keys, not one);
- rollup tiers: MetricHourTotal (per hour, service and environment), MetricDayTotal (per
  UTC day, service, environment, category, severity, strategy and code) and MetricDayGroup
  (per UTC day, group and environment) built from those rows with SQL, as the digest would
  have written them;
- groups: 2,000 (1M) / 20,000 (10M), 80 % OPEN;
- entries: 1,000,000 real ErrorLogEntry rows over the last 30 days (for the changelists).

Each request is made in-process with Django's test client (a logged-in superuser; the
metrics API also with a service key), so the figures are Django + DRF + PostgreSQL
without HTTP. Aims: metrics API < 150 ms, changelist pages < 300 ms, at p95.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import machine_info, percentile, recreate_database  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/faultline_bench_dashboard"
DAYS = 30
HOURS = DAYS * 24
SCALES = {
    # name: (entries represented, rollup keys per hour, groups)
    "1m": (1_000_000, 250, 2_000),
    "10m": (10_000_000, 1_000, 20_000),
}
SERVICES = 20
CATEGORIES = ["TRANSIENT", "PERMANENT", "CONFIGURATION", "BUSINESS_LOGIC",
              "EXTERNAL_DEPENDENCY", "RESOURCE_EXHAUSTION", "SECURITY", "DATA_CORRUPTION"]
SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
STRATEGIES = ["RETRY", "FALLBACK", "CIRCUIT_BREAK", "DEAD_LETTER", "IMMEDIATE_ALERT"]
CODES = ["ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "503", "502", "429", "ValidationError",
         "IntegrityError", "KeyError", "DeadlockDetected", "ENOTFOUND", "P2002"]


def setup_django(url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATABASE_URL=url,
        CELERY_BROKER_URL="memory://",
        LOG_LEVEL="WARNING",
        FAULTLINE_VAR_DIR=tempfile.gettempdir() + "/faultline-bench-var",
        REDIS_URL="",
    )
    import django

    django.setup()


def run(cur, sql: str, params: list) -> None:
    # Modulo in the SQL below is written " % "; psycopg2 wants it doubled next to %s.
    cur.execute(sql.replace(" % ", " %% "), params)


def sql_array(values: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"


def per_hour_counts(total: int, keys: int) -> list[int]:
    """Counts of one hour's keys: skewed (1/(k+1)^0.9), each at least 1, summing exactly."""
    per_hour = total // HOURS
    weights = [1 / (k + 1) ** 0.9 for k in range(keys)]
    scale = (per_hour - keys) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    counts[0] += per_hour - sum(counts)
    return counts


def load_services_and_groups(cur, groups: int) -> None:
    cur.execute("TRUNCATE resilience_errorgroup, resilience_service CASCADE")
    cur.execute(
        "INSERT INTO resilience_service (id, name, slug, description, created_at, scrub_data, "
        "scrub_safe_fields, scrub_sensitive_fields) "
        "SELECT s, 'service-' || s, 'service-' || s, '', now(), true, '', '' "
        "FROM generate_series(1, %s) s",
        [SERVICES],
    )
    run(
        cur,
        f"""
        INSERT INTO resilience_errorgroup (id, service_id, fingerprint, title, culprit, name,
            code, operation, environment, category, severity, status, times_seen,
            regression_count, first_seen, last_seen, first_release, last_release,
            needs_manual_intervention, unhandled)
        SELECT g, 1 + g % {SERVICES}, md5(g::text),
               ({sql_array(CODES)})[1 + g % {len(CODES)}] || ': upstream ' || g || ' failed',
               'payments.client in charge', '', ({sql_array(CODES)})[1 + g % {len(CODES)}],
               'op.' || (g % 40), (ARRAY['production','staging','dev'])[1 + g % 3],
               ({sql_array(CATEGORIES)})[1 + g % 8], ({sql_array(SEVERITIES)})[1 + (g / 8) % 4],
               CASE WHEN g % 10 < 8 THEN 'OPEN' WHEN g % 10 = 8 THEN 'RESOLVED' ELSE 'MUTED' END,
               100, 0, now() - interval '30 days', now() - (g % 720) * interval '1 hour',
               'v1.2.3', 'v1.2.3', false, false
        FROM generate_series(1, %s) g
        """,
        [groups],
    )
    cur.execute("SELECT setval(pg_get_serial_sequence('resilience_errorgroup', 'id'), %s)",
                [groups])
    cur.execute("SELECT setval(pg_get_serial_sequence('resilience_service', 'id'), %s)",
                [SERVICES])


def load_rollups(cur, total: int, keys: int, groups: int, rotation: str = "hour") -> int:
    """`rotation`: the heavy keys change every hour (default, pessimistic for the daily
    rollups: a day holds ~17 times an hour's keys), or every day (the same groups fail all
    day long: a day holds one hour's keys)."""
    counts = per_hour_counts(total, keys)
    period = "h" if rotation == "hour" else "(h / 24)"
    cur.execute("TRUNCATE resilience_errormetric")
    # Hour h holds `keys` distinct groups ((k * 7919 + h * 31) mod groups is a bijection on
    # k for a prime step); each group has one category/severity/code/environment, and its
    # strategy alternates between two, so the rollup keys are unique.
    run(
        cur,
        f"""
        INSERT INTO resilience_errormetric (bucket, service_id, group_id, environment,
            category, severity, code, strategy, count, succeeded, failed, last_seen)
        SELECT date_trunc('hour', now()) - h * interval '1 hour',
               1 + grp % {SERVICES}, grp, (ARRAY['production','staging','dev'])[1 + grp % 3],
               ({sql_array(CATEGORIES)})[1 + grp % 8],
               ({sql_array(SEVERITIES)})[1 + (grp / 8) % 4],
               ({sql_array(CODES)})[1 + grp % {len(CODES)}],
               st, c.cnt,
               CASE WHEN st IN ('RETRY', 'FALLBACK') THEN c.cnt * 6 / 10 ELSE 0 END,
               CASE WHEN st IN ('RETRY', 'FALLBACK') THEN c.cnt / 10 ELSE 0 END,
               date_trunc('hour', now()) - h * interval '1 hour' + interval '59 minutes'
        FROM generate_series(0, {HOURS - 1}) h
        CROSS JOIN LATERAL unnest(%s::int[]) WITH ORDINALITY AS c(cnt, k)
        CROSS JOIN LATERAL (SELECT (((k - 1) * 7919 + {period} * 31) % {groups}) + 1 AS grp) g
        CROSS JOIN LATERAL (SELECT ({sql_array(STRATEGIES)})[1 + (grp + {period} % 2) % 5]
                            AS st) s
        """,
        [counts],
    )
    # total / 720 is rarely whole: the newest hour's largest key takes the remainder.
    cur.execute(
        "UPDATE resilience_errormetric SET count = count + %s - "
        "(SELECT sum(count) FROM resilience_errormetric) WHERE id = "
        "(SELECT id FROM resilience_errormetric ORDER BY bucket DESC, count DESC LIMIT 1)",
        [total],
    )
    cur.execute("SELECT count(*), sum(count) FROM resilience_errormetric")
    rows, summed = cur.fetchone()
    assert summed == total, (summed, total)
    return rows


def load_rollup_tiers(cur) -> dict[str, int]:
    """The tiers as the digest writes them: the hourly rows summed per tier's key."""
    cur.execute("TRUNCATE resilience_metrichourtotal, resilience_metricdaytotal, "
                "resilience_metricdaygroup")
    day = "date_trunc('day', bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    total = ("service_id, environment, category, severity, strategy, code, "
             "CASE WHEN code = '' THEN group_id ELSE 0 END")
    rows = {}
    cur.execute(
        "INSERT INTO resilience_metrichourtotal (bucket, service_id, environment, count) "
        "SELECT bucket, service_id, environment, SUM(count) FROM resilience_errormetric "
        "GROUP BY 1, 2, 3 ORDER BY 1")
    rows["hour_totals"] = cur.rowcount
    cur.execute(
        "INSERT INTO resilience_metricdaytotal (bucket, service_id, environment, category, "
        "severity, strategy, code, codeless_group, count, succeeded, failed, last_seen) "
        f"SELECT {day}, {total}, SUM(count), SUM(succeeded), SUM(failed), MAX(last_seen) "
        f"FROM resilience_errormetric GROUP BY 1, {total} ORDER BY 1")
    rows["day_totals"] = cur.rowcount
    cur.execute(
        "INSERT INTO resilience_metricdaygroup (bucket, group_id, environment, service_id, "
        f"count, last_seen) SELECT {day}, group_id, environment, service_id, SUM(count), "
        "MAX(last_seen) FROM resilience_errormetric GROUP BY 1, 2, 3, 4 ORDER BY 1")
    rows["day_groups"] = cur.rowcount
    return rows


def load_entries(cur, n: int, groups: int) -> None:
    cur.execute("TRUNCATE resilience_errorlogentry CASCADE")
    run(
        cur,
        f"""
        INSERT INTO resilience_errorlogentry (service_id, event_id, source, group_id,
            received_at, timestamp, digested_at, category, severity, retryable, recoverable,
            strategy, classification, code, name, errno, message, stack_trace, operation,
            component, campaign_id, timer_id, user_id, attempt_count, environment, release,
            context, extra, outcome)
        SELECT 1 + grp % {SERVICES}, md5(i::text), 'api', grp, ts, ts, ts,
               ({sql_array(CATEGORIES)})[1 + grp % 8],
               ({sql_array(SEVERITIES)})[1 + (grp / 8) % 4], true, true,
               ({sql_array(STRATEGIES)})[1 + grp % 5], '{{}}'::jsonb,
               ({sql_array(CODES)})[1 + grp % {len(CODES)}], 'ConnectionError', '',
               'upstream ' || (i % 1000) || ' refused the connection after 5000 ms',
               'Traceback (most recent call last):\n  File "/srv/app/payments/client.py", '
               || 'line 88, in charge\nConnectionError: refused', 'op.' || (grp % 40), '',
               CASE WHEN i % 7 = 0 THEN 'campaign-' || (i % 500) ELSE '' END, '', '', i % 4,
               (ARRAY['production','staging','dev'])[1 + grp % 3], 'v1.2.3', '{{}}'::jsonb,
               '{{}}'::jsonb, ''
        FROM generate_series(1::bigint, %s) i
        CROSS JOIN LATERAL (SELECT 1 + (i * 7919) % {groups} AS grp,
            now() - ((%s - i)::float / %s) * interval '{DAYS} days' AS ts) x
        """,
        [n, n, n],
    )


def timed(fn, iterations: int, warmup: int = 3) -> dict:
    for _ in range(warmup):
        fn()
    latencies = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        latencies.append((time.perf_counter() - t0) * 1000)
    lat = sorted(latencies)
    return {"p50_ms": round(statistics.median(lat), 1), "p95_ms": round(percentile(lat, 95), 1),
            "max_ms": round(lat[-1], 1)}


def measure(name: str, client, url: str, iterations: int, aim_ms: float, rows: list) -> None:
    def call():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])

    result = timed(call, iterations)
    result.update(scenario=name, url=url, aim_ms=aim_ms, met=result["p95_ms"] < aim_ms)
    rows.append(result)
    print(f"{name:<44} p50 {result['p50_ms']:>7.1f} ms  p95 {result['p95_ms']:>7.1f} ms  "
          f"max {result['max_ms']:>7.1f} ms  {'ok' if result['met'] else 'MISSED'}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    p.add_argument("--scales", default="1m,10m")
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--rotation", choices=("hour", "day"), default="hour",
                   help="how often the heavy rollup keys change (default: every hour)")
    p.add_argument("--metrics-only", action="store_true",
                   help="only the metrics API rows: no entries, no changelists")
    args = p.parse_args(argv)

    version = recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings

    from resilience.ingest.keys import service_key_create
    from resilience.models import Service

    call_command("migrate", "--noinput", verbosity=0)
    info = machine_info(version)
    print(json.dumps(info), flush=True)
    admin = User.objects.create_superuser("bench", "bench@example.com", "bench-password")
    results: dict = {"machine": info, "scales": {}}

    for scale in args.scales.split(","):
        total, keys, groups = SCALES[scale]
        t0 = time.perf_counter()
        with connection.cursor() as cur:
            load_services_and_groups(cur, groups)
            rollup_rows = load_rollups(cur, total, keys, groups, args.rotation)
            tier_rows = load_rollup_tiers(cur)
            entries = 0 if args.metrics_only else args.entries
            load_entries(cur, entries, groups)
            cur.execute("VACUUM ANALYZE")  # what autovacuum would have done by now
        tiers = ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in tier_rows.items())
        print(f"\n== {scale}: {total:,} errors as {rollup_rows:,} hourly rollup rows ({tiers}), "
              f"{groups:,} groups, {entries:,} entries "
              f"(loaded in {time.perf_counter() - t0:.0f} s)", flush=True)
        client = Client()
        client.force_login(admin)
        service = Service.objects.get(pk=3)
        key_client = Client(HTTP_AUTHORIZATION=f"Bearer {service_key_create(service=service)[1]}")
        rows: list = []
        # Uncached: every call reads the range's rollups (what the first viewer of a range
        # pays every METRICS_CACHE_SECONDS).
        with override_settings(METRICS_CACHE_SECONDS=0):
            for range_ in ("24h", "7d", "30d"):
                measure(f"metrics API {range_}", client, f"/api/v1/metrics/?range={range_}",
                        args.iterations, 150, rows)
            for range_ in ("24h", "30d"):
                measure(f"metrics API {range_}, service key (1 service)", key_client,
                        f"/api/v1/metrics/?range={range_}", args.iterations, 150, rows)
            measure("metrics API 7d, environment=production", client,
                    "/api/v1/metrics/?range=7d&environment=production", args.iterations, 150,
                    rows)
        if args.metrics_only:
            results["scales"][scale] = {"errors": total, "rotation": args.rotation,
                                        "rollup_rows": rollup_rows, "tier_rows": tier_rows,
                                        "groups": groups, "rows": rows}
            continue
        measure("metrics API 30d, cached (30 s)", client, "/api/v1/metrics/?range=30d",
                args.iterations, 150, rows)
        measure("dashboard page 24h (admin)", client, "/admin/dashboard/?range=24h",
                args.iterations, 300, rows)
        pages = [
            ("groups changelist", "/admin/resilience/errorgroup/"),
            ("groups: status=OPEN", "/admin/resilience/errorgroup/?status__exact=OPEN"),
            ("groups: severity=CRITICAL, page 3",
             "/admin/resilience/errorgroup/?severity__exact=CRITICAL&p=3"),
            ("groups: search 'ETIMEDOUT'", "/admin/resilience/errorgroup/?q=ETIMEDOUT"),
            ("entries changelist", "/admin/resilience/errorlogentry/"),
            ("entries: range=24h", "/admin/resilience/errorlogentry/?range=24h"),
            ("entries: category=SECURITY",
             "/admin/resilience/errorlogentry/?category__exact=SECURITY"),
            ("entries: service=3, severity=HIGH",
             "/admin/resilience/errorlogentry/?service__id__exact=3&severity__exact=HIGH"),
            ("entries: page 50", "/admin/resilience/errorlogentry/?p=50"),
            ("entries: exact event id",
             "/admin/resilience/errorlogentry/?q=c4ca4238a0b923820dcc509a6f75849b"),
        ]
        for name, url in pages:
            measure(name, client, url, args.iterations, 300, rows)
        results["scales"][scale] = {"errors": total, "rotation": args.rotation,
                                    "rollup_rows": rollup_rows, "tier_rows": tier_rows,
                                    "groups": groups,
                                    "entries": args.entries, "rows": rows}

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    missed = [r["scenario"] for s in results["scales"].values() for r in s["rows"] if not r["met"]]
    print("\nall aims met" if not missed else f"\nmissed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
