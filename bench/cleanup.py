"""Clean-up of a million old entries: how long, in how many batches, how long each batch
holds its locks, and the rollups untouched.

    .venv/bin/python bench/cleanup.py [--entries 1000000] [--recent 50000] [--batch 5000]

It recreates its own PostgreSQL database (default
postgres://postgres@127.0.0.1:5432/faultline_bench_cleanup), migrates it, loads the old
entries with one `INSERT … SELECT generate_series` (35 to 45 days old, digested, spread over
20 groups) plus recent ones that must stay, builds their hourly rollups with one
`INSERT … SELECT … GROUP BY`, then runs the `cleanup.entries` procedure exactly as
celery-beat would and reports. Run by hand; never by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import machine_info, percentile, recreate_database  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/faultline_bench_cleanup"
GROUPS = 20

LOAD_ENTRIES = """
INSERT INTO resilience_errorlogentry (
    service_id, group_id, event_id, source, received_at, timestamp, digested_at,
    category, severity, retryable, recoverable, strategy, classification,
    code, name, message, stack_trace, operation, component, campaign_id, timer_id, user_id,
    attempt_count, environment, release, context, extra, errno, outcome)
SELECT %(service)s, %(first_group)s + (g %% %(groups)s), md5(%(tag)s || g::text), 'api', t, t, t,
       'TRANSIENT', 'MEDIUM', true, true, 'RETRY', '{}', 'ETIMEDOUT', 'TimeoutError',
       'upstream timed out after 30000 ms', 'Traceback (most recent call last): ...',
       'payment.charge', 'payments', '', '', '', 0, 'production', '', '{}', '{}', '', ''
FROM generate_series(1, %(n)s) AS g,
     LATERAL (SELECT now() - make_interval(days => %(days)s)
                          - make_interval(secs => (g::bigint * %(spread)s / %(n)s)::int) AS t) AS ts
"""

BUILD_ROLLUPS = """
INSERT INTO resilience_errormetric (bucket, service_id, group_id, environment, category,
                                    severity, code, strategy, count, succeeded, failed,
                                    last_seen)
SELECT date_trunc('hour', timestamp), service_id, group_id, environment, category, severity,
       code, strategy, count(*), 0, 0, max(timestamp)
FROM resilience_errorlogentry GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--entries", type=int, default=1_000_000, help="old entries to load")
    parser.add_argument("--recent", type=int, default=50_000, help="recent entries (kept)")
    parser.add_argument("--batch", type=int, default=5000, help="RETENTION_BATCH_SIZE")
    args = parser.parse_args()

    pg_version = recreate_database(args.database_url)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATABASE_URL=args.database_url,
        REDIS_URL="",
        CELERY_BROKER_URL="memory://",
        LOG_LEVEL="WARNING",
        FAULTLINE_RETENTION_BATCH_SIZE=str(args.batch),
        FAULTLINE_VAR_DIR=tempfile.gettempdir() + "/faultline-bench-var",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                   cwd=ROOT, env=os.environ, check=True)

    import django

    django.setup()
    from django.db import connection

    from recovery import cleanup
    from recovery.services import procedure_run
    from resilience.models import ErrorGroup, ErrorLogEntry, ErrorMetric, Service

    service = Service.objects.create(name="bench", slug="bench")
    from django.utils import timezone

    now = timezone.now()
    groups = ErrorGroup.objects.bulk_create(
        ErrorGroup(service=service, fingerprint=f"bench-{i}", title=f"TimeoutError {i}",
                   category="TRANSIENT", severity="MEDIUM", first_seen=now, last_seen=now)
        for i in range(GROUPS)
    )
    first_group = min(g.pk for g in groups)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(LOAD_ENTRIES, {"service": service.pk, "first_group": first_group,
                                      "groups": GROUPS, "tag": "old", "n": args.entries,
                                      "days": 35, "spread": 10 * 86400})
        cursor.execute(LOAD_ENTRIES, {"service": service.pk, "first_group": first_group,
                                      "groups": GROUPS, "tag": "new", "n": args.recent,
                                      "days": 0, "spread": 5 * 86400})
        cursor.execute(BUILD_ROLLUPS)
        cursor.execute("ANALYZE resilience_errorlogentry")
        cursor.execute("ANALYZE resilience_errormetric")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('resilience_errorlogentry'))")
        table_size = cursor.fetchone()[0]
    load_seconds = time.perf_counter() - started
    rollups_before = list(ErrorMetric.objects.order_by("id").values_list("id", "count"))

    batch_seconds: list[float] = []
    real_delete_ids = cleanup.delete_ids

    def timed(model, ids):
        t0 = time.perf_counter()
        try:
            return real_delete_ids(model, ids)
        finally:
            batch_seconds.append(time.perf_counter() - t0)

    cleanup.delete_ids = timed
    started = time.perf_counter()
    run = procedure_run("cleanup.entries", via="command")
    seconds = time.perf_counter() - started
    cleanup.delete_ids = real_delete_ids

    rollups_after = list(ErrorMetric.objects.order_by("id").values_list("id", "count"))
    left = ErrorLogEntry.objects.count()
    lat = sorted(batch_seconds)
    report = {
        "machine": machine_info(pg_version),
        "old_entries": args.entries,
        "recent_entries": args.recent,
        "entry_table_size_before": table_size,
        "load_seconds": round(load_seconds, 1),
        "batch_size": args.batch,
        "outcome": run.outcome,
        "deleted": run.changed["deleted"],
        "batches": run.changed["batches"],
        "max_batch": run.changed["max_batch"],
        "seconds": round(seconds, 1),
        "rows_per_second": round(run.changed["deleted"] / seconds) if seconds else 0,
        "batch_delete_p50_ms": round(percentile(lat, 50) * 1000, 1),
        "batch_delete_p99_ms": round(percentile(lat, 99) * 1000, 1),
        "batch_delete_max_ms": round(lat[-1] * 1000, 1) if lat else 0.0,
        "entries_left": left,
        "rollups": len(rollups_after),
        "rollups_intact": rollups_before == rollups_after,
    }
    print(json.dumps(report, indent=2))
    ok = (run.outcome == "SUCCEEDED" and run.changed["deleted"] == args.entries
          and left == args.recent and report["rollups_intact"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
