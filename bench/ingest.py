#!/usr/bin/env python
"""Ingest benchmark: POST /api/v1/errors/ against a real gunicorn + PostgreSQL.

Run by hand (`make bench-ingest BENCH_ARGS="..."` or `.venv/bin/python bench/ingest.py`),
never by the test suite. It:

1. drops and recreates its own PostgreSQL database (DATABASE_URL, default
   postgres://postgres@127.0.0.1:5432/faultline_bench), migrates it, creates a service and
   a service key;
2. starts gunicorn (production settings plus a do-nothing view, bench/reference_settings.py;
   gthread workers, group commit on unless --no-group-commit) on a free port and waits for
   /healthz;
3. runs the scenarios with a load generator made of several processes, each driving
   persistent keep-alive HTTP/1.1 connections (raw asyncio streams by default, or
   http.client in threads with --client threads), and the ceilings they are compared with
   in the same run: `noop-c*` (the do-nothing view, same server, client and body) and
   `copy-c*` (raw COPY of the rows the batch scenario stored, bench/_copy.py);
4. after each scenario, checks that the events answered 201 equal the rows added to
   resilience_errorlogentry (counted with psycopg2), and prints each figure as a share of
   its ceiling (bench/_ratios.py) and the RSS of every gunicorn process (bench/_memory.py);
5. always stops gunicorn (also on Ctrl-C).

Digestion (grouping, counts) is NOT measured by the scenarios: CELERY_BROKER_URL=memory://
means the after-commit digest message goes to an in-process queue no worker reads.
`--soak SECONDS` instead runs paced single reports for that long while a real Celery worker
digests (bench/_soak.py), and prints the RSS of every process minute by minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    AsyncClient,
    BodyMaker,
    CpuWatch,
    Process,
    ThreadClient,
    accepted_events,
    busy_fraction,
    context_switches,
    cpu_total,
    free_port,
    machine_info,
    percentile,
    production_env,
    recreate_database,
    report_templates,
    wait_until,
)
from _copy import (
    CopyRun,
    capture_rows,
    entry_columns,
    max_entry_id,
    scratch_create,
    scratch_drop,
    scratch_rows,
)
from _memory import Group, RssSampler, mib, minute_table, rss_by_minute, rss_summary
from _ratios import median_ratios, ratio_line, ratio_table, ratios, share_of_ceiling
from _sentry import (
    EnvelopeAsyncClient,
    EnvelopeMaker,
    EnvelopeThreadClient,
    accepted_envelope,
    envelope_templates,
    sentry_target,
)
from _soak import backlog, stall_lines, stalls, start_worker, wait_digested, wait_worker_ready

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PATH = "/api/v1/errors/"
NOOP_PATH = "/bench/noop/"  # bench/reference_urls.py
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/faultline_bench"


@dataclass(frozen=True)
class Scenario:
    name: str
    concurrency: int
    batch: int = 0  # 0 = one report object per request, else a list of `batch` reports
    rate: float = 0.0  # requests/s in total (paced open loop); 0 = closed loop, flat out
    description: str = ""
    envelope: bool = False  # Sentry gzip envelopes to /api/<project>/envelope/ (bench/_sentry.py)
    frames: int = 20  # envelope mode: frames per stack trace (20: ~10 KB event, 8: ~5 KB)
    # The single reports' requests to the do-nothing view (bench/reference_urls.py): the
    # ceiling of a Django request on this server. Stores nothing.
    noop: bool = False
    # Raw COPY of the rows that scenario stored, from as many connections (bench/_copy.py).
    copy_of: str = ""


SCENARIOS = [
    Scenario("noop-c1", 1, noop=True, description="do-nothing view, single-report body, 1 client"),
    Scenario("single-c1", 1, description="single reports, 1 client"),
    Scenario("single-c8", 8, description="single reports, 8 clients"),
    Scenario("noop-c32", 32, noop=True,
             description="do-nothing view, single-report body, 32 clients"),
    Scenario("single-c32", 32, description="single reports, 32 clients"),
    Scenario("batch100-c1", 1, batch=100, description="batches of 100, 1 client"),
    Scenario("batch100-c4", 4, batch=100, description="batches of 100, 4 clients"),
    Scenario("batch1000-c1", 1, batch=1000, description="batches of 1,000, 1 client"),
    Scenario("copy-c1", 1, copy_of="batch1000-c1",
             description="raw COPY of batch1000-c1's rows, 1 connection"),
    Scenario("batch1000-c4", 4, batch=1000, description="batches of 1,000, 4 clients"),
    Scenario("copy-c4", 4, copy_of="batch1000-c4",
             description="raw COPY of batch1000-c4's rows, 4 connections"),
    Scenario("rate300", 8, rate=300.0, description="300 single reports/s paced, 8 clients"),
    Scenario("envelope-c8", 8, envelope=True, description="Sentry gzip envelopes, 8 clients"),
    Scenario("envelope-c32", 32, envelope=True, description="Sentry gzip envelopes, 32 clients"),
    Scenario("envelope5k-c32", 32, envelope=True, frames=8,
             description="Sentry gzip envelopes of a ~5 KB event (8 frames), 32 clients"),
]
BY_NAME = {s.name: s for s in SCENARIOS}


# --- the load generator (runs in child processes) ----------------------------------------


@dataclass
class ClientResult:
    requests: int = 0
    ok: int = 0
    non2xx: int = 0
    errors: int = 0
    events: int = 0
    latencies: list[float] = field(default_factory=list)  # ms; from the scheduled time if paced
    service: list[float] = field(default_factory=list)  # ms from the actual send (paced only)
    # Paced only: the worst latency (ms, from the scheduled time) of the requests scheduled
    # in each second of the run, by the second's offset from the start.
    worst_by_second: dict[int, float] = field(default_factory=dict)
    first: float = 0.0
    last: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)

    def add(self, other: ClientResult) -> None:
        self.requests += other.requests
        self.ok += other.ok
        self.non2xx += other.non2xx
        self.errors += other.errors
        self.events += other.events
        self.latencies += other.latencies
        self.service += other.service
        for second, worst in other.worst_by_second.items():
            self.worst_by_second[second] = max(worst, self.worst_by_second.get(second, 0.0))
        self.first = min(self.first or other.first, other.first or self.first)
        self.last = max(self.last, other.last)
        for k, v in other.statuses.items():
            self.statuses[k] = self.statuses.get(k, 0) + v
        for k, v in other.error_kinds.items():
            self.error_kinds[k] = self.error_kinds.get(k, 0) + v

    def late(self, offset_s: float, latency_ms: float) -> None:
        second = int(offset_s)
        if latency_ms > self.worst_by_second.get(second, 0.0):
            self.worst_by_second[second] = latency_ms

    def failed(self, exc: BaseException) -> None:
        self.requests += 1
        self.errors += 1
        kind = f"{type(exc).__name__}: {exc}"[:120]
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


@dataclass(frozen=True)
class Job:
    host: str
    port: int
    key: str
    tag: str
    batch: int
    start_at: float
    duration: float
    requests_per_client: int  # 0 = run for `duration`
    interval: float  # seconds between one client's sends when paced; 0 = closed loop
    first_offsets: tuple[float, ...]  # per client in this process (paced)
    timeout: float
    envelope: bool = False
    frames: int = 20
    project: str = ""  # envelope mode: the service id and its key's public key
    public_key: str = ""
    path: str = PATH  # NOOP_PATH for the do-nothing reference
    noop: bool = False


def _record(res: ClientResult, status: int, data: bytes, job: Job) -> None:
    res.requests += 1
    res.statuses[status] = res.statuses.get(status, 0) + 1
    if 200 <= status < 300:
        res.ok += 1
        if job.noop:
            res.events += status == 201  # the request itself: nothing is stored
        elif job.envelope:
            res.events += accepted_envelope(status, data)
        else:
            res.events += accepted_events(status, data, job.batch)
    else:
        res.non2xx += 1


def _schedule(job: Job, i: int, k: int) -> float:
    return job.start_at + job.first_offsets[i] + k * job.interval


def _thread_client(job: Job, i: int, templates, out: list[ClientResult]) -> None:
    res = ClientResult()
    if job.envelope:
        client = EnvelopeThreadClient(job.host, job.port, job.project, job.public_key,
                                      job.timeout)
        maker = EnvelopeMaker(f"{job.tag}-{i}", templates)
    else:
        client = ThreadClient(job.host, job.port, job.path, job.key, job.timeout)
        maker = BodyMaker(f"{job.tag}-{i}", job.batch, templates)
    end = job.start_at + job.duration
    body = maker.next()
    wait_until(job.start_at)
    res.first = time.time()
    k = 0
    while True:
        if job.requests_per_client and k >= job.requests_per_client:
            break
        if job.interval:
            scheduled = _schedule(job, i, k)
            if scheduled >= end:
                break
            wait_until(scheduled)
        elif not job.requests_per_client and time.time() >= end:
            break
        k += 1
        t0 = time.time()
        try:
            status, data = client.post(body)
        except Exception as exc:  # noqa: BLE001 - counted; the connection is reopened
            res.failed(exc)
            time.sleep(0.01)
            body = maker.next()
            continue
        t1 = time.time()
        res.latencies.append((t1 - (scheduled if job.interval else t0)) * 1000)
        if job.interval:
            res.service.append((t1 - t0) * 1000)
            res.late(scheduled - job.start_at, res.latencies[-1])
        _record(res, status, data, job)
        res.last = t1
        body = maker.next()
    client.close()
    out.append(res)


async def _async_client(job: Job, i: int, templates) -> ClientResult:
    res = ClientResult()
    if job.envelope:
        client = EnvelopeAsyncClient(job.host, job.port, job.project, job.public_key,
                                     job.timeout)
        maker = EnvelopeMaker(f"{job.tag}-{i}", templates)
    else:
        client = AsyncClient(job.host, job.port, job.path, job.key, job.timeout)
        maker = BodyMaker(f"{job.tag}-{i}", job.batch, templates)
    end = job.start_at + job.duration
    body = maker.next()
    await asyncio.sleep(max(0.0, job.start_at - time.time()))
    res.first = time.time()
    k = 0
    while True:
        if job.requests_per_client and k >= job.requests_per_client:
            break
        if job.interval:
            scheduled = _schedule(job, i, k)
            if scheduled >= end:
                break
            delay = scheduled - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        elif not job.requests_per_client and time.time() >= end:
            break
        k += 1
        t0 = time.time()
        try:
            status, data = await client.post(body)
        except Exception as exc:  # noqa: BLE001 - counted; the connection is reopened
            res.failed(exc)
            await asyncio.sleep(0.01)
            body = maker.next()
            continue
        t1 = time.time()
        res.latencies.append((t1 - (scheduled if job.interval else t0)) * 1000)
        if job.interval:
            res.service.append((t1 - t0) * 1000)
            res.late(scheduled - job.start_at, res.latencies[-1])
        _record(res, status, data, job)
        res.last = t1
        body = maker.next()
    client.close()
    return res


def load_process(job: Job, clients: int, kind: str, queue) -> None:
    """One load-generator process: `clients` connections, as threads or asyncio tasks."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent cleans up
    templates = envelope_templates(frames=job.frames) if job.envelope else report_templates()
    total = ClientResult()
    if kind == "threads":
        results: list[ClientResult] = []
        threads = [
            threading.Thread(target=_thread_client, args=(job, i, templates, results))
            for i in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:

        async def run_all() -> list[ClientResult]:
            return await asyncio.gather(
                *(_async_client(job, i, templates) for i in range(clients))
            )

        results = asyncio.run(run_all())
    for r in results:
        total.add(r)
    queue.put(total)


# --- the server and the database --------------------------------------------------------


def server_env(args) -> dict[str, str]:
    dbname = urlparse(args.database_url).path.lstrip("/")
    env = production_env(
        database_url=args.database_url, redis_url=args.redis_url,
        # The soak's worker digests; otherwise the digest messages go nowhere.
        broker_url=broker_url(args) if args.soak else "memory://",
        # One per database: two benchmarks at once never share a spool or a critical log.
        var_dir=f"faultline-bench-var-{dbname}",
        # config.settings.production + the do-nothing view (only ROOT_URLCONF differs).
        DJANGO_SETTINGS_MODULE="bench.reference_settings",
        LOG_LEVEL="WARNING",
        FAULTLINE_INGEST_GROUP_COMMIT="false" if args.no_group_commit else "true",
        # The slow alert receiver listens on loopback (refused by default).
        FAULTLINE_OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",
    )
    return env


def broker_url(args) -> str:
    return args.broker_url or args.redis_url


def pg_connect(url: str, dbname: str | None = None):
    import psycopg2

    u = urlparse(url)
    conn = psycopg2.connect(
        host=u.hostname or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password or None,
        dbname=dbname or u.path.lstrip("/"),
    )
    conn.autocommit = True
    return conn


def recreate_database_with_settings(url: str) -> str:
    version = recreate_database(url)
    conn = pg_connect(url, dbname="postgres")
    settings = {}
    with conn.cursor() as cur:
        for setting in ("synchronous_commit", "fsync", "shared_buffers", "wal_level"):
            cur.execute(f"SHOW {setting}")
            settings[setting] = cur.fetchone()[0]
    conn.close()
    return version + " (" + ", ".join(f"{k}={v}" for k, v in settings.items()) + ")"


KEY_SNIPPET = """
import django
django.setup()
from resilience.models import Service
from resilience.ingest.keys import service_key_create
service = Service.objects.create(name="bench", slug="bench")
# No rate limit (0): the default 10,000 reports a minute answered batch1000-c4 and every
# later scenario in that minute 429 (those answers are now read whole: a refused body is
# read before the answer, resilience/infra/unread_body.py).
print(service_key_create(service=service, label="bench", rate_limit_per_minute=0)[1])
"""


# --alert-webhook-delay: an enabled webhook channel and a rule for every level, pointed at
# a receiver that sleeps; ingest must not slow down (alerts run after the digest).
ALERT_SNIPPET = """
import sys, django
django.setup()
from alerts.models import AlertRule, Channel
channel = Channel.objects.get(kind="WEBHOOK")
channel.url, channel.secret, channel.enabled = sys.argv[1], "bench-secret", True
channel.save()
rule = AlertRule.objects.create(name="bench: everything", min_level="LOW")
rule.channels.set([channel])
"""


def slow_receiver(delay: float) -> str:
    """A webhook receiver that answers 200 after `delay` seconds; returns its URL."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/alerts"


def prepare(args, env) -> str:
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True,
    )
    if args.alert_webhook_delay:
        url = slow_receiver(args.alert_webhook_delay)
        subprocess.run([str(BIN / "python"), "-c", ALERT_SNIPPET, url], cwd=ROOT, env=env,
                       check=True)
        print(f"  alerts     enabled webhook channel + rule -> {url} "
              f"(answers after {args.alert_webhook_delay:g} s)")
    done = subprocess.run(
        [str(BIN / "python"), "-c", KEY_SNIPPET],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"creating the service key failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def start_server(args, env) -> Process:
    """gunicorn as the benchmark runs it, its log in a temporary directory."""
    port = free_port()
    cmd = [
        str(BIN / "gunicorn"), "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread",
        "--workers", str(args.workers),
        "--threads", str(args.threads),
        "--keep-alive", "10",
        "--log-level", "warning",
    ]
    workdir = Path(tempfile.mkdtemp(prefix="faultline-bench-"))
    return Process("gunicorn", cmd, env, port, workdir, cwd=ROOT)


# --- running a scenario ------------------------------------------------------------------


def ncpu() -> int:
    return os.cpu_count() or 1


def count_rows(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM resilience_errorlogentry")
        return cur.fetchone()[0]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """What the machine spent between start() and stop(): CPU per part (server = gunicorn's
    process group, worker = the soak's Celery worker, PostgreSQL, the load generator = this
    script's children, other) and the RSS of every process in `groups`, sampled every
    `rss_interval` seconds."""

    def __init__(self, dbname: str, server: Process, groups: list[Group],
                 rss_interval: float) -> None:
        parts = {"gunicorn": "server", "celery": "worker"}
        self.watch = CpuWatch(dbname, {parts[g.name]: g.pgid for g in groups})
        self.sampler = RssSampler(groups, rss_interval)

    def start(self) -> Meter:
        self.sampler.start()
        self.watch.start()
        self.cpu0, self.load0 = cpu_total(), _children_cpu()
        self.switches0 = context_switches()
        return self

    def stop(self) -> tuple[float, dict[str, float]]:
        """(seconds of wall time, cores used per part)."""
        cpu1, load1 = cpu_total(), _children_cpu()
        self.switches = context_switches() - self.switches0
        groups = self.watch.stop()
        self.sampler.stop()
        wall = max(cpu1[1] - self.cpu0[1], 1e-9) / ncpu()  # wall seconds, per /proc/stat
        cpu = {part: used / wall for part, used in groups.items()}
        cpu["loadgen"] = (load1 - self.load0) / wall
        cpu["busy"] = (cpu1[0] - self.cpu0[0]) / wall
        return wall, with_other(cpu)


def with_other(cpu: dict[str, float]) -> dict[str, float]:
    """`cpu` with "other": what the machine was busy with besides the parts measured."""
    parts = sum(v for k, v in cpu.items() if k not in ("busy", "other"))
    return {**cpu, "other": max(0.0, cpu["busy"] - parts)}


def _per_event_ms(cores: float, wall: float, events: int) -> float | None:
    return round(cores * wall / events * 1000, 3) if events else None


def _figures(sc: Scenario, meter: Meter, wall: float, cpu: dict, *, started_at: float,
             elapsed: float, total: ClientResult, stored: int, check: bool) -> dict:
    """The result of one scenario, the same shape for every kind."""
    lat = sorted(total.latencies)
    return {
        "scenario": sc.name,
        "description": sc.description,
        "concurrency": sc.concurrency,
        "batch": sc.batch,
        "target_rate": sc.rate,
        "started_at": started_at,
        "elapsed_s": round(elapsed, 2),
        "requests": total.requests,
        "ok": total.ok,
        "non2xx": total.non2xx,
        "errors": total.errors,
        "statuses": {str(k): v for k, v in sorted(total.statuses.items())},
        "error_kinds": total.error_kinds,
        "req_per_s": total.ok / elapsed,
        "events_per_s": total.events / elapsed,
        "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95),
        "p99_ms": percentile(lat, 99),
        "max_ms": lat[-1] if lat else 0.0,
        "accepted": total.events,
        "stored": stored,
        # The check that holds for this kind: accepted == stored; the do-nothing view
        # stores nothing; a COPY stored every row it was given.
        "accepted_eq_stored": check,
        "cpu_cores": {k: round(v, 2) for k, v in cpu.items()},
        "server_cpu_ms_per_event": _per_event_ms(cpu["server"], wall, total.events),
        "pg_cpu_ms_per_event": _per_event_ms(cpu["postgres"], wall, total.events),
        "idle_share": round(max(0.0, 1 - cpu["busy"] / ncpu()), 3),
        "context_switches_per_event": (round(meter.switches / total.events, 1)
                                       if total.events else None),
        "rss_kib": rss_summary(meter.sampler.samples),
    } | ({"worker_cpu_ms_per_event": _per_event_ms(cpu["worker"], wall, total.events)}
         if "worker" in cpu else {})


def _wait_quiet(args) -> None:
    if args.wait_quiet > 0:
        deadline = time.time() + args.wait_quiet
        while busy_fraction(0.5) > 0.2 and time.time() < deadline:
            pass


def run_scenario(sc: Scenario, args, server: Process, key: str, db, *, tag: str,
                 duration: float, groups: list[Group], rss_interval: float,
                 samples_out: list | None = None, timeline_out: list | None = None) -> dict:
    """One load scenario; `samples_out` (if given) receives its RSS samples, `timeline_out`
    the CPU of every part and command in each second (CpuWatch.timeline)."""
    port = server.port
    if server.proc.poll() is not None:
        raise RuntimeError(f"gunicorn has exited ({server.proc.returncode}); see "
                           f"{server.log.name}")
    _wait_quiet(args)
    dbname = urlparse(args.database_url).path.lstrip("/")
    before = count_rows(db)
    procs_n = max(1, min(sc.concurrency, args.client_procs))
    per_proc = [sc.concurrency // procs_n + (1 if i < sc.concurrency % procs_n else 0)
                for i in range(procs_n)]
    interval = sc.concurrency / sc.rate if sc.rate else 0.0
    start_at = time.time() + 0.5
    requests_per_client = 0
    if args.requests and not sc.rate:
        requests_per_client = max(1, args.requests // sc.concurrency)
    project, public_key = sentry_target(db) if sc.envelope else ("", "")
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = []
    client_index = 0
    for p, n in enumerate(per_proc):
        offsets = tuple((client_index + i) / sc.rate if sc.rate else 0.0 for i in range(n))
        client_index += n
        job = Job(
            host="127.0.0.1", port=port, key=key, tag=f"{tag}-p{p}", batch=sc.batch,
            start_at=start_at, duration=duration, requests_per_client=requests_per_client,
            interval=interval, first_offsets=offsets, timeout=args.timeout,
            envelope=sc.envelope, frames=sc.frames, project=project, public_key=public_key,
            path=NOOP_PATH if sc.noop else PATH, noop=sc.noop,
        )
        procs.append(ctx.Process(target=load_process, args=(job, n, args.client, queue),
                                 daemon=True))
    for pr in procs:
        pr.start()
    meter = Meter(dbname, server, groups, rss_interval)
    wait_until(start_at)
    meter.start()
    total = ClientResult()
    try:
        for _ in procs:
            total.add(queue.get(timeout=duration + args.timeout + 60))
        for pr in procs:
            pr.join()
    finally:
        for pr in procs:
            if pr.is_alive():
                pr.terminate()
        wall, cpu = meter.stop()
    if samples_out is not None:
        samples_out.extend(meter.sampler.samples)
    if timeline_out is not None:
        timeline_out.extend(meter.watch.timeline)
    stored = count_rows(db) - before
    elapsed = max(total.last - start_at, 1e-9) if total.last else duration
    result = _figures(sc, meter, wall, cpu, started_at=start_at, elapsed=elapsed, total=total,
                      stored=stored, check=stored == 0 if sc.noop else total.events == stored)
    result["cpu_cores_by_command"] = {
        label: round(used / wall, 3)
        for label, used in sorted(meter.watch.by_label().items(), key=lambda kv: -kv[1])
        if used / wall >= 0.005
    }
    if sc.rate:
        svc = sorted(total.service)
        result.update(
            service_p50_ms=percentile(svc, 50),
            service_p99_ms=percentile(svc, 99),
            worst_ms_by_second=[round(total.worst_by_second.get(s, 0.0), 1)
                                for s in range(int(duration))],
        )
    return result


def run_copy(sc: Scenario, args, server: Process, db, chunks: list[bytes],
             columns: list[str], *, groups: list[Group], rss_interval: float) -> dict:
    """COPY the rows `sc.copy_of` stored into the scratch table (bench/_copy.py)."""
    _wait_quiet(args)
    dbname = urlparse(args.database_url).path.lstrip("/")
    captured = sum(chunk.count(b"\n") for chunk in chunks)
    scratch_create(db)
    try:
        start_at = time.time() + 0.5
        run = CopyRun(lambda: pg_connect(args.database_url), chunks, columns,
                      sc.concurrency, start_at).start()
        meter = Meter(dbname, server, groups, rss_interval)
        try:
            wait_until(start_at)
            meter.start()
            parts = run.results(timeout=args.timeout * len(chunks) + 60)
            # Before the connections close: a backend that has exited is not counted.
            wall, cpu = meter.stop()
        finally:
            run.close()
        stored = scratch_rows(db)
    finally:
        scratch_drop(db)
    # The copying processes are reaped after the meter stopped: they report their own CPU.
    cpu = with_other({**cpu, "loadgen": sum(part["cpu_s"] for part in parts) / wall})
    total = ClientResult()  # a COPY + COMMIT of one chunk counts as a request
    for part in parts:
        total.requests += part["chunks"] + len(part["errors"])
        total.ok += part["chunks"]
        total.errors += len(part["errors"])
        total.events += part["rows"]
        total.latencies += part["latencies"]
        total.last = max(total.last, part["last"])
        for kind in part["errors"]:
            total.error_kinds[kind] = total.error_kinds.get(kind, 0) + 1
    elapsed = max(total.last - start_at, 1e-9)
    result = _figures(sc, meter, wall, cpu, started_at=start_at, elapsed=elapsed, total=total,
                      stored=stored, check=total.events == stored == captured and not total.errors)
    result["captured"] = captured
    return result


def print_result(r: dict) -> None:
    copying = r["scenario"].startswith("copy-")
    unit = "COPY/s" if copying else "req/s"
    line = (
        f"{r['scenario']:<13} {r['req_per_s']:>9.1f} {unit} {r['events_per_s']:>9.1f} ev/s  "
        f"p50 {r['p50_ms']:>7.1f}  p95 {r['p95_ms']:>7.1f}  p99 {r['p99_ms']:>7.1f} ms  "
        f"non-2xx {r['non2xx']}  errors {r['errors']}"
    )
    print(line)
    if r["target_rate"]:
        print(f"{'':<13} (latency from the scheduled send; service time alone: "
              f"p50 {r['service_p50_ms']:.1f}, p99 {r['service_p99_ms']:.1f} ms)")
    flag = "yes" if r["accepted_eq_stored"] else "NO"
    if copying:
        print(f"{'':<13} copied == stored: {flag} ({r['accepted']} rows copied in chunks of "
              f"1,000 rows per COPY + COMMIT, {r['stored']} in the scratch table, "
              f"{r['captured']} captured; {r['elapsed_s']} s)")
    elif r["scenario"].startswith("noop-"):
        print(f"{'':<13} stores nothing: {flag} ({r['accepted']} answered 201, "
              f"{r['stored']} rows added; {r['requests']} requests in {r['elapsed_s']} s)")
    else:
        print(f"{'':<13} accepted == stored: {flag} ({r['accepted']} answered 201, "
              f"{r['stored']} rows added; {r['requests']} requests in {r['elapsed_s']} s)")
    c = r["cpu_cores"]
    per = "row" if copying else "request" if r["scenario"].startswith("noop-") else "event"
    worker = f"Celery worker {c['worker']:.2f}, " if "worker" in c else ""
    print(f"{'':<13} CPU (cores of {ncpu()}): server {c['server']:.2f}, {worker}postgres "
          f"{c['postgres']:.2f}, load generator {c['loadgen']:.2f}, other {c['other']:.2f}; "
          f"per {per}: server {r['server_cpu_ms_per_event']} ms, "
          + (f"Celery worker {r['worker_cpu_ms_per_event']} ms, " if worker else "")
          + f"postgres {r['pg_cpu_ms_per_event']} ms; idle {r['idle_share']:.0%}, "
          f"{r['context_switches_per_event']} context switches per {per}")
    rss = "; ".join(f"{label} {mib(v['start'])}/{mib(v['end'])}/{mib(v['max'])}"
                    for label, v in r["rss_kib"].items())
    print(f"{'':<13} RSS MiB start/end/max: {rss}")
    if r["non2xx"]:
        print(f"{'':<13} statuses: {r['statuses']}")
    for kind, n in r["error_kinds"].items():
        print(f"{'':<13} client error x{n}: {kind}")
    sys.stdout.flush()


def markdown_table(results: list[dict]) -> str:
    rows = [
        "| scenario | requests/s | accepted events/s | of its ceiling | p50 ms | p95 ms | p99 ms "
        "| non-2xx | accepted == stored | CPU server / pg / load gen / other (cores) "
        "| server CPU ms per event |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for r in results:
        c = r["cpu_cores"]
        worker = f" (+ Celery worker {c['worker']:.2f})" if "worker" in c else ""
        rows.append(
            f"| {r['scenario']} ({r['description']}{round_of(r)}) | {r['req_per_s']:,.0f} | "
            f"{r['events_per_s']:,.0f} | {r.get('of_ceiling', '')} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['non2xx'] + r['errors']} | "
            f"{'yes' if r['accepted_eq_stored'] else 'no'} | "
            f"{c['server']:.2f}{worker} / {c['postgres']:.2f} / {c['loadgen']:.2f} / "
            f"{c['other']:.2f} | {r['server_cpu_ms_per_event']} |"
        )
    return "\n".join(rows)


def round_of(result: dict) -> str:
    return f", round {result['round']}" if "round" in result else ""


def rss_table(results: list[dict]) -> str:
    rows = ["| scenario | process | RSS start MiB | end MiB | max MiB |",
            "|---|---|---:|---:|---:|"]
    for r in results:
        for label, v in r["rss_kib"].items():
            rows.append(f"| {r['scenario']}{round_of(r)} | {label} | {mib(v['start'])} "
                        f"| {mib(v['end'])} | {mib(v['max'])} |")
    return "\n".join(rows)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Benchmark POST /api/v1/errors/ on gunicorn + PostgreSQL (drops and "
        "recreates the benchmark database), beside the ceilings it is compared with. "
        "Digestion is measured only by --soak.",
    )
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB),
                   help="database to DROP and recreate (default %(default)s; env "
                   "BENCH_DATABASE_URL)")
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL",
                                                         "redis://127.0.0.1:6379/9"),
                   help="Redis for the cache and circuit breakers, as in production "
                   "(default %(default)s; '' runs circuits on the database fallback)")
    p.add_argument("--duration", type=float, default=10.0,
                   help="seconds per scenario (default %(default)s)")
    p.add_argument("--requests", type=int, default=0,
                   help="instead of --duration, this many requests per closed-loop scenario")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds of unreported single reports at concurrency 8 first")
    p.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS),
                   help="comma-separated subset of: " + ", ".join(BY_NAME)
                   + " (copy-cN needs batch1000-cN before it: it copies that one's rows)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run the scenarios this many times in turn and judge each ratio by "
                   "its median over the rounds (this VM's speed moves ±10%% between runs)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--threads", type=int, default=8,
                   help="gunicorn threads per worker (default 8)")
    p.add_argument("--no-group-commit", action="store_true",
                   help="FAULTLINE_INGEST_GROUP_COMMIT=false (one commit per request)")
    p.add_argument("--client", choices=("asyncio", "threads"), default="asyncio",
                   help="load generator: raw asyncio streams or http.client in threads")
    p.add_argument("--client-procs", type=int, default=2,
                   help="load-generator processes (default 2)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="before each scenario, wait up to this long for the machine to be "
                   "under 20%% busy (other people's jobs skew the figures)")
    p.add_argument("--rss-interval", type=float, default=0.5, metavar="SECONDS",
                   help="how often each scenario samples the RSS of gunicorn's processes "
                   "(default %(default)s)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    p.add_argument("--alert-webhook-delay", type=float, default=0.0, metavar="SECONDS",
                   help="enable a webhook alert channel and a rule for every level, pointed "
                   "at a local receiver that answers after SECONDS")
    p.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                   help="instead of the scenarios: paced single reports for SECONDS while a "
                   "real Celery worker digests; RSS of every gunicorn and Celery process "
                   "every 10 s, a table by minute, and the undigested backlog at the end")
    p.add_argument("--soak-rate", type=float, default=300.0, metavar="PER_SECOND",
                   help="the soak's single reports per second, 8 clients (default "
                   "%(default)s)")
    p.add_argument("--broker-url", default="", metavar="URL",
                   help="the soak's Celery broker (default: --redis-url)")
    args = p.parse_args(argv)
    names = [n for n in args.scenarios.split(",") if n]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(unknown)}")
    for i, name in enumerate(names):
        source = BY_NAME[name].copy_of
        if source and source not in names[:i]:
            p.error(f"{name} copies the rows {source} stored: put {source} before it")
    if args.soak and not broker_url(args):
        p.error("--soak needs a Redis broker: --broker-url or --redis-url")
    return args


# The soak samples RSS this often, and waits this long for the worker to digest what is left.
SOAK_RSS_INTERVAL = 10.0
SOAK_DRAIN_TIMEOUT = 120.0


def soak_report(r: dict, samples: list, duration: float) -> dict:
    """The soak's RSS by minute (and its growth), printed and returned for the JSON."""
    minutes = max(1, math.ceil(duration / 60))
    rows = rss_by_minute(samples, r["started_at"], minutes=minutes)
    print(f"\nRSS by minute (the last sample of each minute, every {SOAK_RSS_INTERVAL:g} s):\n")
    print(minute_table(rows))
    return {"rss_by_minute": [{"minute": m, "rss_kib": rss} for m, rss in rows]}


def run_soak(args, env, server: Process, key: str, db, groups: list[Group],
             run_id: str) -> tuple[dict, dict]:
    """--soak: the paced load for args.soak seconds while a real Celery worker digests."""
    dbname = urlparse(args.database_url).path.lstrip("/")
    worker = start_worker(BIN, ROOT, env, server.log_path.parent, name=f"bench-{dbname}")
    try:
        wait_worker_ready(worker)
        print(f"  celery     worker ready (pid {worker.proc.pid}, queues digest, alerts, "
              f"replay, maintenance; broker {broker_url(args)}); log {worker.log_path}")
        sc = Scenario("soak", 8, rate=args.soak_rate,
                      description=f"{args.soak_rate:g} single reports/s paced, 8 clients, "
                      f"{args.soak:g} s, a Celery worker digesting")
        watched = [*groups, Group("celery", worker.proc.pid, "main", "pool")]
        meter_samples: list = []
        timeline: list = []
        r = run_scenario(sc, args, server, key, db, tag=f"{run_id}-soak", duration=args.soak,
                         groups=watched, rss_interval=SOAK_RSS_INTERVAL,
                         samples_out=meter_samples, timeline_out=timeline)
        print_result(r)
        print(f"{'':<13} cores by part and command: " + ", ".join(
            f"{label} {cores:.2f}" for label, cores in r["cpu_cores_by_command"].items()))
        stall_report = stalls(r["worst_ms_by_second"], timeline, r["started_at"])
        for line in stall_lines(stall_report):
            print(f"{'':<13} {line}")
        entries, (pending, quarantined) = count_rows(db), backlog(db)
        waited, left = wait_digested(db, timeout=SOAK_DRAIN_TIMEOUT)
        digested = entries - pending  # the warm-up's entries included
        after = pending - quarantined - left
        print(f"{'':<13} digested by the end of the load: {digested} of {entries} entries "
              f"({digested / r['elapsed_s']:.0f}/s); undigested then: {pending} "
              f"({quarantined} quarantined); "
              + ("all digested" if not left else f"{left} left")
              + f" {waited:.0f} s later ({after / max(waited, 1e-9):.0f}/s)")
        soak = soak_report(r, meter_samples, args.soak)
        soak.update(entries=entries, digested_during_load=digested, undigested_at_end=pending,
                    quarantined=quarantined, undigested_after_wait=left,
                    waited_s=round(waited, 1), worker_log=str(worker.log_path),
                    stalls=stall_report)
        return r, soak
    finally:
        worker.stop()


def main(argv=None) -> int:
    args = parse_args(argv)
    scenarios = [BY_NAME[n] for n in args.scenarios.split(",") if n]
    env = server_env(args)
    pg = recreate_database_with_settings(args.database_url)
    machine = machine_info(pg)
    machine["busy_before_start"] = f"{busy_fraction(1.0):.0%} of all CPUs (should be ~0%)"
    print("Faultline ingest benchmark")
    for k, v in machine.items():
        print(f"  {k:<10} {v}")
    config = {
        "gunicorn": f"{args.workers} workers x {args.threads} threads (gthread)",
        "group_commit": not args.no_group_commit,
        "client": f"{args.client}, {args.client_procs} processes, keep-alive HTTP/1.1",
        "duration_s": args.duration if not args.requests else f"{args.requests} requests",
        "digestion": ("a Celery worker (soak)" if args.soak else
                      "not measured (CELERY_BROKER_URL=memory://, no worker)"),
    }
    if args.soak:
        config["duration_s"] = args.soak
    for k, v in config.items():
        print(f"  {k:<10} {v}")
    sys.stdout.flush()
    key = prepare(args, env)
    server = start_server(args, env)
    results: list[dict] = []
    rounds: list[list[dict]] = []
    soak: dict = {}
    db = None
    try:
        server.wait_ready()
        db = pg_connect(args.database_url)
        groups = [Group("gunicorn", server.proc.pid, "master", "worker")]
        run_id = f"{int(time.time()):x}"
        if args.warmup > 0:
            warm = run_scenario(Scenario("warmup", 8, description="warm-up"), args,
                                server, key, db, tag=f"{run_id}-w", duration=args.warmup,
                                groups=groups, rss_interval=args.rss_interval)
            print(f"warm-up: {warm['req_per_s']:.0f} req/s, accepted == stored: "
                  f"{'yes' if warm['accepted_eq_stored'] else 'NO'}")
        print()
        if args.soak:
            r, soak = run_soak(args, env, server, key, db, groups, run_id)
            results.append(r)
        else:
            for n in range(args.rounds):
                if args.rounds > 1:
                    print(f"round {n + 1} of {args.rounds}")
                round_results: list[dict] = []
                run_scenarios(args, scenarios, server, key, db, groups, f"{run_id}-{n}",
                              round_results)
                for r in round_results:
                    r["of_ceiling"] = share_of_ceiling(r, ratios(round_results))
                    if args.rounds > 1:
                        r["round"] = n + 1
                rounds.append(round_results)
                results.extend(round_results)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping gunicorn", file=sys.stderr)
        return 130
    finally:
        server.stop()
        if db is not None:
            db.close()
    ratio_rows = median_ratios(rounds) if len(rounds) > 1 else ratios(results)
    if ratio_rows:
        print("\nEach figure against its ceiling (measured in this run):")
        for row in ratio_rows:
            print("  " + ratio_line(row))
    print()
    print(markdown_table(results))
    if ratio_rows:
        print()
        print(ratio_table(ratio_rows))
    print()
    print(rss_table(results))
    print(f"\ngunicorn log: {server.log.name}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": machine, "config": config, "args": vars(args), "results": results,
             "ratios": ratio_rows, "soak": soak},
            indent=2,
        ))
    ok = all(r["accepted_eq_stored"] for r in results)
    # A soak whose worker digested nothing has not tested digestion: a failure. Falling
    # behind is a figure (the backlog), not a failure of the benchmark.
    return 0 if ok and soak.get("digested_during_load", 1) else 1


def run_scenarios(args, scenarios: list[Scenario], server: Process, key: str, db,
                  groups: list[Group], run_id: str, results: list[dict]) -> None:
    """Each scenario in turn; a batch scenario that a copy-cN copies keeps its rows
    (read back between the two, in memory) for it."""
    sources = {sc.copy_of for sc in scenarios if sc.copy_of}
    columns = entry_columns(db) if sources else []
    captured: dict[str, list[bytes]] = {}
    for n, sc in enumerate(scenarios):
        if sc.copy_of:
            r = run_copy(sc, args, server, db, captured.pop(sc.copy_of), columns,
                         groups=groups, rss_interval=args.rss_interval)
        else:
            first = max_entry_id(db) if sc.name in sources else 0
            r = run_scenario(sc, args, server, key, db, tag=f"{run_id}-{n}",
                             duration=args.duration, groups=groups,
                             rss_interval=args.rss_interval)
            if sc.name in sources:
                captured[sc.name] = capture_rows(db, first, columns)
        results.append(r)
        print_result(r)


if __name__ == "__main__":
    sys.exit(main())
