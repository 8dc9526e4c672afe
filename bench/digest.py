#!/usr/bin/env python
"""Digestion benchmark: a real Celery digest worker against a backlog, then against a feed.

    flock /tmp/faultline-bench.lock .venv/bin/python bench/digest.py \
        --database-url postgres://postgres@127.0.0.1:5432/faultline_bench_digest \
        --redis-url redis://127.0.0.1:6379/5 [--scenarios catch-up,keep-up]

Run by hand (`make bench-digest BENCH_ARGS="..."`), never by the test suite. It drops and
recreates its database, migrates it, makes six services and a key, and starts the digest
worker as deploy/faultline-digest.service does (`celery -A config worker -Q digest`,
production settings, the broker and the cache on --redis-url, which it FLUSHES), always
stopped in a `finally`.

- catch-up: loads a backlog of --entries undigested entries with one
  `INSERT … SELECT generate_series` (--kinds distinct failures over six services with a
  skew, three releases each, production/staging/development, Python tracebacks and a
  share of Sentry-style structured frames, a few DEAD_LETTER decisions with payloads),
  asks for a digest run as ingest does after a commit (`digest_schedule_now()`), and
  times it until the groups have counted every entry (polled from the groups' 300 rows:
  polling the entry table itself cost PostgreSQL most of a core), then checks that none
  is pending. Reports entries/s and the CPU the worker and PostgreSQL used per entry.
- keep-up: --feeders processes (2) call the real `resilience.ingest.service.ingest()`
  (group commit on, as production) with --rate reports/s between them, in ticks of
  --tick-ms, so the committed rows and the after-commit digest scheduling are
  production's; the lag (age of the oldest pending entry, and how many) is sampled every
  second for --duration seconds. `--feed http` posts the same batches through gunicorn
  instead (bench/_common.py's Process; every report under the first service's key).
- `--profile N`: no worker; loads the backlog and runs N `digest_batch()` calls in this
  process under cProfile (the top functions by cumulative time, and CPU per entry).
- `--in-process N`: the same without a profiler, the error log on a Celery worker's
  handler: Python CPU per entry of each batch, min and median (steady on a shared machine,
  where the worker's CPU per entry rises with the load).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import (  # noqa: E402
    Process,
    cpu_by_process,
    free_port,
    machine_info,
    production_env,
    recreate_database,
)

BIN = ROOT / ".venv" / "bin"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/faultline_bench_digest"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"
SERVICES = ["payments-api", "ledger", "notifier", "search", "inventory", "auth"]
RELEASES = ["2026.11.3", "2026.11.4", "2026.11.5"]

# --- the failures: one catalogue for the SQL backlog and the feed ----------------------

_APP_FRAMES = [
    ("app/services/payments.py", "charge", "response = self.client.post(url, json=body)"),
    ("app/services/refunds.py", "refund", "self.ledger.post(entry)"),
    ("app/clients/http.py", "post", "return self._request('POST', url, **kwargs)"),
    ("app/clients/http.py", "_request", "resp = self.session.request(method, url, **kw)"),
    ("app/tasks/timers.py", "execute", "result = handler.run(timer, attempt=attempt)"),
    ("app/tasks/campaigns.py", "send", "self.mailer.deliver(batch)"),
    ("app/db/repo.py", "save", "self.session.flush()"),
    ("app/api/views.py", "post", "order = OrderService(self.db).create(payload)"),
    ("app/api/views.py", "get", "return self.serializer(self.lookup(pk)).data"),
    ("app/domain/orders.py", "create", "self.validate(payload)"),
    ("app/domain/orders.py", "validate", "raise ValidationError(errors)"),
    ("app/domain/inventory.py", "reserve", "stock = self.repo.lock(sku)"),
    ("app/search/indexer.py", "index", "self.es.bulk(actions)"),
    ("app/auth/tokens.py", "verify", "claims = jwt.decode(token, key)"),
    ("app/notify/email.py", "deliver", "self.smtp.sendmail(sender, rcpt, body)"),
]
_LIB_FRAMES = [
    ("/usr/lib/python3.11/site-packages/requests/sessions.py", "send",
     "r = adapter.send(request, **kwargs)"),
    ("/usr/lib/python3.11/site-packages/requests/adapters.py", "send",
     "resp = conn.urlopen(method=request.method, url=url)"),
    ("/usr/lib/python3.11/site-packages/urllib3/connectionpool.py", "urlopen",
     "httplib_response = self._make_request(conn)"),
    ("/usr/lib/python3.11/socket.py", "create_connection", "raise err"),
    ("/usr/lib/python3.11/site-packages/sqlalchemy/orm/session.py", "flush",
     "self._flush(objects)"),
    ("/usr/lib/python3.11/site-packages/psycopg2/extras.py", "execute",
     "return super().execute(query, vars)"),
]
# (code, name, category, severity, strategy, message template); {rid} and {n} vary per entry.
_KINDS = [
    ("ETIMEDOUT", "TimeoutError", "TRANSIENT", "MEDIUM", "RETRY",
     "read timed out after 30000 ms calling {svc} (request {rid})"),
    ("ECONNREFUSED", "ConnectionRefusedError", "EXTERNAL_DEPENDENCY", "HIGH", "RETRY",
     "connection to {svc}:443 refused while calling {op} for order ord_{rid}"),
    ("ECONNRESET", "ConnectionResetError", "TRANSIENT", "MEDIUM", "CIRCUIT_BREAK",
     "connection reset by peer {svc}:5432 during {op} (txn {rid})"),
    ("503", "HTTPError", "EXTERNAL_DEPENDENCY", "HIGH", "FALLBACK",
     "503 Service Unavailable from https://{svc}.internal/v2/orders/ord_{rid}"),
    ("429", "HTTPError", "RESOURCE_EXHAUSTION", "MEDIUM", "RETRY",
     "429 Too Many Requests from {svc}; retry-after 12 s (key {rid})"),
    ("ValidationError", "ValidationError", "BUSINESS_LOGIC", "LOW", "DEAD_LETTER",
     "1 validation error for Order: amount must be positive (got -{n}) order ord_{rid}"),
    ("IntegrityError", "IntegrityError", "DATA_CORRUPTION", "HIGH", "DEAD_LETTER",
     'duplicate key value violates unique constraint "orders_ref_key" (ref)=({rid})'),
    ("KeyError", "KeyError", "PERMANENT", "HIGH", "FALLBACK",
     "'customer_{n}' missing from cache during {op}"),
    ("EAUTH", "PermissionError", "SECURITY", "CRITICAL", "IMMEDIATE_ALERT",
     "token {rid} rejected for user usr_{n}: signature mismatch"),
    ("DeadlockDetected", "OperationalError", "TRANSIENT", "MEDIUM", "RETRY",
     "deadlock detected: process {n} waits for ShareLock on transaction {rid}"),
]
_OPERATIONS = ["payment.charge", "payment.refund", "timer.execute", "campaign.send",
               "ledger.post", "inventory.reserve", "email.deliver", "search.index"]


def catalogue(kinds: int, seed: int = 11) -> list[dict]:
    """`kinds` distinct failures (a service, a type, an operation, in-app frames), each with
    a traceback per release (line numbers move between releases, the frames do not)."""
    rng = random.Random(seed)
    out = []
    for k in range(kinds):
        code, name, category, severity, strategy, template = _KINDS[k % len(_KINDS)]
        service = k % len(SERVICES)
        op = _OPERATIONS[rng.randrange(len(_OPERATIONS))]
        app = rng.sample(_APP_FRAMES, rng.randint(2, 5))
        lib = rng.sample(_LIB_FRAMES, rng.randint(0, 3))
        frames = app[:1] + lib[:1] + app[1:] + lib[1:]  # interleaved, innermost last
        traces = []
        for r, _release in enumerate(RELEASES):
            lines = ["Traceback (most recent call last):"]
            for i, (path, func, code_line) in enumerate(frames):
                full = path if path.startswith("/") else f"/srv/app/{path}"
                lines.append(f'  File "{full}", line {40 + 17 * i + 3 * r + k % 7}, in {func}')
                lines.append(f"    {code_line}")
            traces.append("\n".join(lines))
        sentry = k % 5 == 4  # a fifth of the failures come from a Sentry SDK
        out.append({
            "k": k, "service": service, "code": code, "name": name, "category": category,
            "severity": severity, "strategy": strategy, "operation": op,
            "message": template.replace("{svc}", SERVICES[service]).replace("{op}", op),
            "traces": traces, "source": "sentry" if sentry else "api",
            "frames": [{"module": p.rsplit("/", 1)[-1].removesuffix(".py"), "function": f,
                        "filename": p, "in_app": not p.startswith("/")}
                       for p, f, _ in frames] if sentry else None,
        })
    return out


def pick_kind(u: float, kinds: int, skew: float) -> int:
    """The same skew as the SQL: kind 0 is the most frequent."""
    return min(kinds - 1, int(kinds * u ** skew))


# --- the backlog, in SQL ------------------------------------------------------------------

KINDS_TABLE = """
CREATE TEMP TABLE bench_kinds (
    k int PRIMARY KEY, service_id bigint, code text, name text, category text,
    severity text, strategy text, operation text, message text, trace_0 text, trace_1 text,
    trace_2 text, source text, frames jsonb)
"""

# u1 picks the failure (skewed), u2 the release and environment, from md5(g): repeatable.
# Stored in g's order, so the failures are interleaved in id order as they would arrive
# (without ORDER BY the join's plan stored them grouped by failure: a batch of 1,000 held
# one to four groups, and each run's next batch mostly the same ones).
LOAD_BACKLOG = """
INSERT INTO resilience_errorlogentry (
    service_id, event_id, source, received_at, timestamp, category, severity, retryable,
    recoverable, strategy, classification, code, name, message, stack_trace, operation,
    component, campaign_id, timer_id, user_id, attempt_count, environment, release, context,
    payload, extra, errno, outcome, quarantine_reason)
SELECT k.service_id, md5('backlog-' || g::text), k.source, t, t - interval '2 seconds',
       k.category, k.severity, k.strategy <> 'DEAD_LETTER', k.strategy = 'FALLBACK',
       k.strategy,
       jsonb_build_object('code', k.code, 'category', k.category, 'severity', k.severity,
                          'matched', 'code', 'classified_by', 'code'),
       k.code, k.name, msg, (ARRAY[k.trace_0, k.trace_1, k.trace_2])[rel + 1] || E'\n'
       || k.name || ': ' || msg,
       k.operation, k.operation || '-worker', '', '', 'usr_' || (g %% 5000)::text, g %% 4,
       env, (ARRAY[%(releases)s])[rel + 1],
       jsonb_build_object('host', 'web-' || (g %% 12)::text || '.prod.internal',
                          'request_id', substr(h, 1, 16), 'region', 'eu-west-1'),
       jsonb_build_object('order_id', 'ord_' || substr(h, 5, 12), 'amount_cents', g %% 99999,
                          'currency', 'EUR'),
       CASE WHEN k.frames IS NULL
            THEN jsonb_build_object('tags', jsonb_build_object('team', 'core'))
            ELSE jsonb_build_object('tags', jsonb_build_object('team', 'core'),
                                    'frames', k.frames, 'unhandled', g %% 3 = 0,
                                    'mechanism', 'django', 'event_type', 'error') END,
       '', '', ''
FROM generate_series(1, %(n)s) AS g
CROSS JOIN LATERAL (SELECT md5(g::text) AS h) AS hashed
CROSS JOIN LATERAL (
    SELECT ('x' || substr(h, 1, 8))::bit(32)::bigint / 4294967296.0 AS u1,
           ('x' || substr(h, 9, 8))::bit(32)::bigint %% 3 AS rel,
           CASE WHEN ('x' || substr(h, 17, 2))::bit(8)::int < 192 THEN 'production'
                WHEN ('x' || substr(h, 17, 2))::bit(8)::int < 245 THEN 'staging'
                ELSE 'development' END AS env,
           now() - make_interval(secs => (%(n)s - g) * %(spread)s / %(n)s::float) AS t
) AS pick
JOIN bench_kinds k ON k.k = least(%(kinds)s - 1, floor(%(kinds)s * power(pick.u1, %(skew)s)))
CROSS JOIN LATERAL (
    SELECT replace(replace(k.message, '{rid}', substr(h, 20, 12)), '{n}', (g %% 99991)::text)
) AS m(msg)
ORDER BY g
"""


def load_backlog(connection, services: list[int], args) -> float:
    started = time.perf_counter()
    kinds = catalogue(args.kinds)
    with connection.cursor() as cursor:
        cursor.execute(KINDS_TABLE)
        for kind in kinds:
            cursor.execute(
                "INSERT INTO bench_kinds VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s, %s)",
                [kind["k"], services[kind["service"]], kind["code"], kind["name"],
                 kind["category"], kind["severity"], kind["strategy"], kind["operation"],
                 kind["message"], *kind["traces"], kind["source"],
                 json.dumps(kind["frames"]) if kind["frames"] else None],
            )
        sql = LOAD_BACKLOG.replace("%(releases)s", ", ".join(f"'{r}'" for r in RELEASES))
        cursor.execute(sql, {"n": args.entries, "kinds": args.kinds, "skew": args.skew,
                             "spread": 600.0})
        cursor.execute("DROP TABLE bench_kinds")
        cursor.execute("ANALYZE resilience_errorlogentry")
    return time.perf_counter() - started


# --- processes ----------------------------------------------------------------------------


def server_env(args) -> dict[str, str]:
    env = production_env(
        database_url=args.database_url, redis_url=args.redis_url, broker_url=args.redis_url,
        var_dir="faultline-bench-digest-var",
        FAULTLINE_DIGEST_BATCH_SIZE=str(args.batch_size) if args.batch_size else
        os.environ.get("FAULTLINE_DIGEST_BATCH_SIZE", ""),
    )
    if not env["FAULTLINE_DIGEST_BATCH_SIZE"]:
        del env["FAULTLINE_DIGEST_BATCH_SIZE"]
    return env


def start_worker(args, env, workdir: Path) -> Process:
    """The digest worker as deploy/faultline-digest.service starts it."""
    cmd = [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "INFO", "-Q", "digest",
           "--hostname", f"digest-bench-{os.getpid()}@%h", "--without-gossip",
           "--without-mingle"]
    if args.concurrency:
        cmd += ["--concurrency", str(args.concurrency)]
    worker = Process("celery-digest", cmd, env, 0, workdir, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"the worker exited; see {worker.log_path}")
        if " ready." in worker.log_path.read_text(errors="replace"):
            return worker
        time.sleep(0.2)
    raise RuntimeError(f"the worker did not start; see {worker.log_path}")


def start_gunicorn(env, workdir: Path) -> Process:
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "config.wsgi:application", "-c", "deploy/gunicorn.conf.py",
           "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    server = Process("gunicorn", cmd, env, port, workdir, cwd=ROOT)
    server.wait_ready()
    return server


class CpuMeter:
    """CPU seconds of the worker's process group and of PostgreSQL (our database's backends
    and its helpers), summed over every process seen at any sample: a backend that ends
    between two samples still counts up to the last sample that saw it."""

    def __init__(self, dbname: str, worker_pgid: int) -> None:
        self.dbname, self.worker_pgid = dbname, worker_pgid
        self.first = cpu_by_process(dbname)
        self.last = dict(self.first)

    def sample(self) -> None:
        self.last.update(cpu_by_process(self.dbname))

    def used(self) -> dict[str, float]:
        out = {"worker": 0.0, "postgres": 0.0}
        for pid, (comm, pgrp, cpu) in self.last.items():
            prior = self.first.get(pid)
            delta = cpu - prior[2] if prior and prior[0] == comm else cpu
            if pgrp == self.worker_pgid:
                out["worker"] += delta
            elif comm == "postgres":
                out["postgres"] += delta
        return out


def bench_services() -> list[int]:
    """The six services main() made, in SERVICES order (migrations make others)."""
    from resilience.models import Service

    ids = dict(Service.objects.filter(slug__in=SERVICES).values_list("slug", "id"))
    return [ids[name] for name in SERVICES]


def pending(cursor) -> tuple[int, float | None]:
    """(entries still to digest, age in seconds of the oldest one)."""
    cursor.execute(
        "SELECT count(*), extract(epoch FROM now() - min(received_at)) "
        "FROM resilience_errorlogentry WHERE digested_at IS NULL AND quarantined_at IS NULL")
    count, age = cursor.fetchone()
    return count, float(age) if age is not None else None


def digested_so_far(cursor) -> int:
    """Entries digested so far, as the groups count them: each digested entry adds one to
    its group's times_seen in the same transaction. One row per group (300 here), where
    pending() reads the whole entry table (about 0.2 s at 200,000 rows, four times a
    second, on the same two cores as the digest it watches)."""
    cursor.execute("SELECT coalesce(sum(times_seen), 0) FROM resilience_errorgroup")
    return int(cursor.fetchone()[0])


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


# --- scenarios ----------------------------------------------------------------------------


def catch_up(args, env, workdir, dbname: str) -> dict:
    from django.db import connection

    from resilience.digest.schedule import DIGEST_TASK, digest_schedule_now
    from resilience.models import DeadLetter, ErrorGroup, ErrorMetric
    from resilience.outbound.calls import send_task

    services = bench_services()
    flush_redis(args.redis_url)
    # Started first: the sweep it queues on connecting finds nothing, and the backlog below
    # commits in one statement, so digestion starts when this bench asks for it.
    worker = start_worker(args, env, workdir)
    try:
        time.sleep(2)
        load_seconds = load_backlog(connection, services, args)
        print(f"backlog: {args.entries:,} entries loaded in {load_seconds:.1f} s", flush=True)
        cursor = connection.cursor()
        meter = CpuMeter(dbname, worker.proc.pid)
        started = time.monotonic()
        if not digest_schedule_now():
            raise RuntimeError("could not publish the digest run")
        for _ in range(args.runs - 1):  # experiments: more runs at once (SKIP LOCKED claims)
            send_task(DIGEST_TASK, kwargs={}, retry=False)
        left = args.entries
        last_print = started
        while left:
            time.sleep(0.25)
            left = args.entries - digested_so_far(cursor)
            meter.sample()
            now = time.monotonic()
            if now - last_print >= 5:
                done = args.entries - left
                print(f"  {now - started:6.1f} s  digested {done:>8,}  "
                      f"({done / (now - started):,.0f}/s)", flush=True)
                last_print = now
            if now - started > args.timeout:
                raise RuntimeError(f"catch-up did not finish in {args.timeout} s: {left} left")
        seconds = time.monotonic() - started
        meter.sample()
        probe_started = time.perf_counter()
        still_pending, _ = pending(cursor)  # once, after the clock: what the groups said
        probe_ms = (time.perf_counter() - probe_started) * 1000
    finally:
        worker.stop()
    cpu = meter.used()
    groups = ErrorGroup.objects.count()
    seen = sum(ErrorGroup.objects.values_list("times_seen", flat=True))
    counted = sum(ErrorMetric.objects.values_list("count", flat=True))
    result = {
        "scenario": "catch-up",
        "entries": args.entries,
        "kinds": args.kinds,
        "groups": groups,
        "dead_letters": DeadLetter.objects.count(),
        "seconds": round(seconds, 2),
        "entries_per_s": round(args.entries / seconds),
        "worker_cpu_s": round(cpu["worker"], 2),
        "postgres_cpu_s": round(cpu["postgres"], 2),
        "worker_cpu_us_per_entry": round(cpu["worker"] / args.entries * 1e6, 1),
        "postgres_cpu_us_per_entry": round(cpu["postgres"] / args.entries * 1e6, 1),
        "times_seen_total": seen,
        "rollup_total": counted,
        "all_counted": seen == counted == args.entries and not still_pending,
        "pending_probe_ms": round(probe_ms, 1),
        "worker_log": str(worker.log_path),
    }
    print(f"catch-up: {args.entries:,} entries in {seconds:.1f} s = "
          f"{result['entries_per_s']:,}/s; {groups} groups; worker CPU "
          f"{result['worker_cpu_us_per_entry']} µs/entry, PostgreSQL "
          f"{result['postgres_cpu_us_per_entry']} µs/entry; counts add up: "
          f"{'yes' if result['all_counted'] else 'NO'} (one read of the pending entries: "
          f"{result['pending_probe_ms']} ms)", flush=True)
    return result


def keep_up(args, env, workdir, dbname: str) -> dict:
    from django.db import connection


    services = bench_services()
    flush_redis(args.redis_url)
    worker = start_worker(args, env, workdir)
    server = start_gunicorn(env, workdir) if args.feed == "http" else None
    feeders: list[subprocess.Popen] = []
    samples = []
    try:
        cursor = connection.cursor()
        outs = [workdir / f"feed-{i}.json" for i in range(args.feeders)]
        cmds = []
        for i, out in enumerate(outs):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--feed-child", str(out),
                   "--rate", str(args.rate / args.feeders), "--duration", str(args.duration),
                   "--tick-ms", str(args.tick_ms), "--kinds", str(args.kinds),
                   "--skew", str(args.skew), "--services", ",".join(map(str, services)),
                   "--feed", args.feed, "--offset", str(i)]
            if server is not None:
                cmd += ["--port", str(server.port), "--key", args.key]
            cmds.append(cmd)
        meter = CpuMeter(dbname, worker.proc.pid)
        feeders = [subprocess.Popen(cmd, cwd=ROOT, env=env) for cmd in cmds]
        started = time.monotonic()
        while any(feeder.poll() is None for feeder in feeders):
            time.sleep(1.0)
            count, age = pending(cursor)
            meter.sample()
            at = time.monotonic() - started
            samples.append((round(at, 1), count, round(age or 0.0, 2)))
            if len(samples) % 5 == 0:
                print(f"  {at:5.1f} s  pending {count:>6,}  oldest {age or 0:6.2f} s",
                      flush=True)
        # The lag when the feed ends (the feeders live on ~1.5 s to publish their last run).
        at_end = [sample for sample in samples if sample[0] <= args.duration + 0.5]
        _, end_count, end_age = (at_end or samples)[-1]
        if any(feeder.returncode for feeder in feeders):
            raise RuntimeError("a feeder failed")
        parts = [json.loads(out.read_text()) for out in outs]
        feed = {"reports": sum(p["reports"] for p in parts),
                "seconds": max(p["seconds"] for p in parts),
                "cpu": sum(p["cpu"] for p in parts)}
        # How long the worker takes to empty what is left once the feed stops.
        drained_at = time.monotonic()
        while pending(cursor)[0] and time.monotonic() - drained_at < 120:
            time.sleep(0.25)
        drain_seconds = time.monotonic() - drained_at
        drained = not pending(cursor)[0]
    finally:
        for feeder in feeders:
            if feeder.poll() is None:
                feeder.kill()
        worker.stop()
        if server is not None:
            server.stop()
    cpu = meter.used()
    ages = [age for _, _, age in samples]
    result = {
        "scenario": "keep-up",
        "feed": args.feed,
        "target_rate": args.rate,
        "achieved_rate": round(feed["reports"] / feed["seconds"], 1),
        "reports": feed["reports"],
        "feed_seconds": round(feed["seconds"], 1),
        "tick_ms": args.tick_ms,
        "lag_at_end_s": round(end_age or 0.0, 2),
        "pending_at_end": end_count,
        "lag_max_s": max(ages) if ages else 0.0,
        "lag_p50_s": sorted(ages)[len(ages) // 2] if ages else 0.0,
        "drained_after_feed_s": round(drain_seconds, 2) if drained else None,
        "feeders": args.feeders,
        "worker_cpu_cores": round(cpu["worker"] / feed["seconds"], 2),
        "postgres_cpu_cores": round(cpu["postgres"] / feed["seconds"], 2),
        "worker_cpu_us_per_entry": round(cpu["worker"] / max(feed["reports"], 1) * 1e6, 1),
        "feeder_cpu_us_per_report": round(feed["cpu"] / max(feed["reports"], 1) * 1e6, 1),
        "samples": samples,
        "worker_log": str(worker.log_path),
    }
    print(f"keep-up: fed {result['reports']:,} reports in {result['feed_seconds']} s "
          f"({result['achieved_rate']:,}/s of {args.rate:,}/s); at the end "
          f"{end_count:,} pending, oldest {result['lag_at_end_s']} s (max "
          f"{result['lag_max_s']} s); "
          + (f"drained {result['drained_after_feed_s']} s after the feed"
             if result['drained_after_feed_s'] is not None
             else "not drained within 120 s of the feed")
          + f"; worker {result['worker_cpu_cores']} cores "
          f"({result['worker_cpu_us_per_entry']} µs/entry), PostgreSQL "
          f"{result['postgres_cpu_cores']} cores, feeder "
          f"{result['feeder_cpu_us_per_report']} µs/report", flush=True)
    return result


def in_process(args) -> dict:
    """Python CPU of digest_batch() in this process, no profiler: process CPU per entry of
    each batch (min and median), after three warm batches. The error log goes where a
    Celery worker sends it: a root StreamHandler with Celery's format (to /dev/null)."""
    import logging
    import statistics

    from celery.utils.log import ColorFormatter
    from django.db import connection

    from resilience import conf
    from resilience.digest.service import digest_batch

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives with us
    handler.setFormatter(ColorFormatter(
        "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s", use_color=False))
    root.addHandler(handler)
    logging.getLogger("faultline.errors").setLevel(logging.INFO)  # the production default
    load_backlog(connection, bench_services(), args)
    limit = conf.get("DIGEST_BATCH_SIZE")
    for _ in range(3):
        digest_batch(limit=limit)
    cpu, wall = [], []
    for _ in range(args.in_process):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        entries = digest_batch(limit=limit).entries
        if not entries:
            break
        cpu.append((time.process_time() - cpu0) / entries * 1e6)
        wall.append((time.perf_counter() - wall0) / entries * 1e6)
    result = {"scenario": "in-process", "batch_size": limit, "batches": len(cpu),
              "python_cpu_us_per_entry_min": round(min(cpu), 1),
              "python_cpu_us_per_entry_median": round(statistics.median(cpu), 1),
              "wall_us_per_entry_median": round(statistics.median(wall), 1)}
    print(f"in-process: {len(cpu)} batches of {limit}: Python CPU per entry min "
          f"{result['python_cpu_us_per_entry_min']} µs, median "
          f"{result['python_cpu_us_per_entry_median']} µs; wall median "
          f"{result['wall_us_per_entry_median']} µs", flush=True)
    return result


def profile(args) -> dict:
    """Digest the backlog in this process, batch by batch, under cProfile."""
    from django.db import connection

    from resilience import conf
    from resilience.digest.service import digest_batch

    services = bench_services()
    load_backlog(connection, services, args)
    limit = conf.get("DIGEST_BATCH_SIZE")
    digest_batch(limit=limit)  # warm: imports, first groups
    profiler = cProfile.Profile()
    entries = 0
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    for _ in range(args.profile):
        profiler.enable()
        result = digest_batch(limit=limit)
        profiler.disable()
        entries += result.entries
    wall = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
    print(text.getvalue())
    # One more batch with its statements timed (wall, as the worker waits for them).
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        digest_batch(limit=limit)
    print("one batch's statements (ms, wall):")
    for query in queries.captured_queries:
        print(f"  {float(query['time']) * 1000:8.1f}  {query['sql'][:110]}")
    result = {"scenario": "profile", "batch_size": limit, "batches": args.profile,
              "entries": entries, "python_cpu_us_per_entry": round(cpu / entries * 1e6, 1),
              "wall_us_per_entry": round(wall / entries * 1e6, 1)}
    print(json.dumps(result))
    return result


# --- the feeder (a child process) ----------------------------------------------------------


def feed_child(args) -> None:
    """Paced ingest: --rate reports/s in ticks of --tick-ms, each tick one ingest() call
    for one service (round robin), through the real accept step and its group commit."""
    import django

    django.setup()
    from django.utils import timezone

    from resilience.core.report_schema import validate_report
    from resilience.ingest.service import ingest

    services = [int(s) for s in args.services.split(",")]
    kinds = catalogue(args.kinds)
    by_service: dict[int, list[dict]] = {s: [] for s in range(len(services))}
    for kind in kinds:
        by_service[kind["service"]].append(kind)
    rng = random.Random(5)
    now = timezone.now()
    # A pool of validated reports per service (validation is the API's, not ingest's).
    pools = {}
    for s, own in by_service.items():
        pool = []
        for _ in range(400):
            kind = own[pick_kind(rng.random(), len(own), args.skew)]
            rel = rng.randrange(len(RELEASES))
            message = kind["message"].replace("{rid}", f"{rng.getrandbits(48):012x}").replace(
                "{n}", str(rng.randint(1, 99999)))
            raw = {"code": kind["code"], "name": kind["name"], "message": message,
                   "stack_trace": f"{kind['traces'][rel]}\n{kind['name']}: {message}",
                   "operation": kind["operation"], "environment": rng.choice(
                       ["production", "production", "production", "staging"]),
                   "release": RELEASES[rel], "attempt_count": rng.randint(0, 3),
                   "context": {"host": f"web-{rng.randint(1, 12)}.prod.internal"},
                   "payload": {"order_id": f"ord_{rng.getrandbits(40):010x}"}}
            pool.append(validate_report(raw, where="report", now=now))
        pools[s] = pool
    per_tick = max(1, round(args.rate * args.tick_ms / 1000))
    tick = per_tick / args.rate
    http = None
    if args.feed == "http":
        sys.path.insert(0, str(ROOT / "bench"))
        from _common import ThreadClient

        http = ThreadClient("127.0.0.1", args.port, "/api/v1/errors/", args.key, 30.0)
    sent = 0
    n = 0
    started = time.monotonic()
    end = started + args.duration
    while True:
        scheduled = started + n * tick
        if scheduled >= end or time.monotonic() >= end:  # a late feed is cut, not stretched
            break
        delay = scheduled - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        s = (n + args.offset) % len(services)
        pool = pools[s]
        offset = (n * per_tick) % len(pool)
        batch = (pool + pool)[offset:offset + per_tick]
        if http is None:
            ingest(batch, service_id=services[s], now=timezone.now())
        else:
            body = json.dumps([{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                for k, v in r.items()} for r in batch]).encode()
            status, _ = http.post(body)
            if status != 201:
                raise SystemExit(f"ingest answered {status}")
        sent += len(batch)
        n += 1
    seconds = time.monotonic() - started
    from resilience.ingest import entry_writer

    entry_writer.committer_stop()
    # The last commits' digest run is published by this process's scheduler thread, which
    # dies with it: let it publish (in production the beat sweep covers a lost wake-up).
    from resilience.digest.schedule import LOCAL_INTERVAL_SECONDS

    time.sleep(LOCAL_INTERVAL_SECONDS + 1.0)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(args.feed_child).write_text(json.dumps(
        {"reports": sent, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime}))


# --- main ---------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", default=DEFAULT_DB, help="DROPPED and recreated")
    p.add_argument("--redis-url", default=DEFAULT_REDIS,
                   help="broker and cache for the worker; FLUSHED (default %(default)s)")
    p.add_argument("--scenarios", default="catch-up,keep-up")
    p.add_argument("--entries", type=int, default=200_000, help="catch-up backlog")
    p.add_argument("--kinds", type=int, default=300, help="distinct failures (~groups)")
    p.add_argument("--skew", type=float, default=2.5,
                   help="failure k is picked as floor(kinds * u^skew): 1 = uniform")
    p.add_argument("--rate", type=float, default=1000.0, help="keep-up: reports/s")
    p.add_argument("--duration", type=float, default=60.0, help="keep-up: seconds")
    p.add_argument("--tick-ms", type=float, default=20.0,
                   help="keep-up: one ingest() call every this many ms")
    p.add_argument("--feed", choices=("ingest", "http"), default="ingest")
    p.add_argument("--feeders", type=int, default=2,
                   help="keep-up: feeding processes, each --rate / N (default 2)")
    p.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--concurrency", type=int, default=0,
                   help="worker processes (default: Celery's, one per CPU)")
    p.add_argument("--runs", type=int, default=1,
                   help="catch-up: digest runs to publish at the start (default 1, as ingest)")
    p.add_argument("--batch-size", type=int, default=0, help="FAULTLINE_DIGEST_BATCH_SIZE")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--profile", type=int, default=0, metavar="BATCHES",
                   help="no worker: profile this many digest_batch() calls in-process")
    p.add_argument("--in-process", type=int, default=0, metavar="BATCHES",
                   help="no worker: this many digest_batch() calls in-process, Python CPU "
                        "per entry without a profiler (use --entries >= (BATCHES + 3) * "
                        "the batch size)")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--feed-child", metavar="OUT", help=argparse.SUPPRESS)
    p.add_argument("--services", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.feed_child:
        feed_child(args)
        return 0
    dbname = urlparse(args.database_url).path.lstrip("/")
    pg = recreate_database(args.database_url)
    env = server_env(args)
    os.environ.update({k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"})
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["LOG_LEVEL"] = "WARNING"
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                   cwd=ROOT, env=os.environ, check=True)
    import django

    django.setup()
    from resilience.ingest.keys import service_key_create
    from resilience.models import Service

    services = [Service.objects.create(name=name, slug=name) for name in SERVICES]
    args.key = service_key_create(service=services[0], label="bench")[1]
    report = {"machine": machine_info(pg), "args": {k: v for k, v in vars(args).items()
                                                     if k != "key"}, "results": []}
    print("Faultline digest benchmark")
    for k, v in report["machine"].items():
        print(f"  {k:<10} {v}")
    with open("/proc/loadavg") as f:
        print(f"  load       {f.read().split()[:3]}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="faultline-bench-digest-"))
    try:
        if args.profile:
            report["results"].append(profile(args))
        elif args.in_process:
            report["results"].append(in_process(args))
        else:
            for name in args.scenarios.split(","):
                if name == "catch-up":
                    report["results"].append(catch_up(args, env, workdir, dbname))
                elif name == "keep-up":
                    report["results"].append(keep_up(args, env, workdir, dbname))
                elif name:
                    raise SystemExit(f"unknown scenario {name!r}")
    finally:
        flush_redis(args.redis_url)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
