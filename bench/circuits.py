#!/usr/bin/env python
"""Circuit-breaker benchmark: permit + report round trips, through the Python services and
through the HTTP API, against a real Redis and PostgreSQL.

Run by hand (`.venv/bin/python bench/circuits.py`), never by the test suite. It:

1. drops and recreates its own PostgreSQL database (--database-url, default
   postgres://postgres@127.0.0.1:5432/faultline_bench_circuits), migrates it and creates
   a service key; uses Redis at --redis-url (default redis://127.0.0.1:6379/13) under a
   fresh key prefix, removed at the end;
2. Python: in this process, times `circuit_permit` alone, the raw Lua call alone, and a
   permit + `circuit_record_success` round trip on a closed circuit; then the round trip
   in --procs processes at once (each sets up Django itself);
3. API: starts gunicorn (production settings, gthread) on a free port and times
   POST …/permit/ + POST …/success/ round trips from 1 and --clients keep-alive clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    free_port,
    machine_info,
    percentile,
    production_env,
    recreate_database,
)

BIN = ROOT / ".venv" / "bin"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/faultline_bench_circuits"
OPERATION = "bench.circuit"


def env_for(args, prefix: str) -> dict[str, str]:
    return production_env(database_url=args.database_url, redis_url=args.redis_url,
                          LOG_LEVEL="WARNING", FAULTLINE_CIRCUIT_KEY_PREFIX=prefix)


KEY_SNIPPET = """
import django
django.setup()
from resilience.models import Service
from resilience.ingest.keys import service_key_create
service = Service.objects.create(name="bench", slug="bench")
print(service_key_create(service=service, label="bench")[1])
"""


def prepare(env) -> str:
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
                   cwd=ROOT, env=env, check=True)
    done = subprocess.run([str(BIN / "python"), "-c", KEY_SNIPPET], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def summary(name: str, latencies_ms: list[float], seconds: float, count: int) -> dict:
    lat = sorted(latencies_ms)
    row = {
        "scenario": name,
        "ops": count,
        "per_second": round(count / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(lat, 50), 3),
        "p99_ms": round(percentile(lat, 99), 3),
        "max_ms": round(lat[-1], 3) if lat else 0.0,
    }
    print(f"{name:<38} {row['ops']:>8} {row['per_second']:>10.1f}/s "
          f"p50 {row['p50_ms']:>7.3f} ms  p99 {row['p99_ms']:>7.3f} ms  max {row['max_ms']:.3f}")
    return row


# --- Python -----------------------------------------------------------------------------


def _setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def _timed(fn, n: int) -> tuple[list[float], float]:
    lat = []
    perf = time.perf_counter
    start = perf()
    for _ in range(n):
        t0 = perf()
        fn()
        lat.append((perf() - t0) * 1000)
    return lat, perf() - start


def _round_trip() -> None:
    from resilience.circuits.services import circuit_permit, circuit_record_success

    permit = circuit_permit(operation=OPERATION)
    circuit_record_success(operation=OPERATION, probe_token=permit.probe_token)


def _proc_round_trips(env, n, queue) -> None:
    _setup_django(env)
    for _ in range(200):  # warm up connections and caches
        _round_trip()
    queue.put(_timed(_round_trip, n))


def python_bench(args, env) -> list[dict]:
    _setup_django(env)
    from resilience.circuits.redis_breaker import RedisCircuitStore, Seed
    from resilience.circuits.services import circuit_backend, circuit_permit
    from resilience.core.circuit_machine import Config

    rows = []
    assert circuit_permit(operation=OPERATION).allowed  # creates the row, seeds Redis
    assert circuit_backend() == "redis"
    for _ in range(500):
        _round_trip()
    store = RedisCircuitStore(args.redis_url, env["FAULTLINE_CIRCUIT_KEY_PREFIX"])
    cfg = Config()
    lat, secs = _timed(lambda: store.call("permit", OPERATION, cfg, seed=Seed()), args.n)
    rows.append(summary("python: Lua permit call only", lat, secs, args.n))
    lat, secs = _timed(lambda: circuit_permit(operation=OPERATION), args.n)
    rows.append(summary("python: circuit_permit", lat, secs, args.n))
    lat, secs = _timed(_round_trip, args.n)
    rows.append(summary("python: permit + record_success", lat, secs, args.n))

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    per_proc = args.n // 2
    procs = [ctx.Process(target=_proc_round_trips, args=(env, per_proc, queue))
             for _ in range(args.procs)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join()
    all_lat = [x for lat, _ in results for x in lat]
    wall = max(secs for _, secs in results)
    rows.append(summary(f"python: round trip, {args.procs} processes", all_lat, wall,
                        len(all_lat)))
    return rows


# --- API ----------------------------------------------------------------------------------


def api_client(port: int, key: str, n: int, out: list, barrier: threading.Barrier) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    base = f"/api/v1/circuits/{OPERATION}"

    def once() -> None:
        conn.request("POST", f"{base}/permit/", body=b"", headers=headers)
        resp = conn.getresponse()
        permit = json.loads(resp.read())
        assert resp.status == 200 and permit["allowed"], permit
        body = json.dumps({"probe_token": permit["probe_token"]}).encode()
        conn.request("POST", f"{base}/success/", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200

    for _ in range(50):
        once()
    barrier.wait()
    out.append(_timed(once, n))
    conn.close()


def api_bench(args, env, key: str) -> list[dict]:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="faultline-bench-circuits-", suffix=".log",  # noqa: SIM115
                                      delete=False)
    cmd = [str(BIN / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--worker-class", "gthread", "--workers", str(args.workers), "--threads",
           str(args.threads), "--keep-alive", "10", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    rows = []
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise SystemExit(f"gunicorn did not start; see {log.name}") from None
                time.sleep(0.1)
        for clients in (1, args.clients):
            out: list = []
            barrier = threading.Barrier(clients)
            n = max(200, args.api_n // clients)
            threads = [threading.Thread(target=api_client, args=(port, key, n, out, barrier))
                       for _ in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            lat = [x for chunk, _ in out for x in chunk]
            wall = max(secs for _, secs in out)
            rows.append(summary(f"api: permit + success, {clients} client(s)", lat, wall,
                                len(lat)))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        log.close()
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL",
                                                         "redis://127.0.0.1:6379/13"))
    p.add_argument("-n", type=int, default=20_000, help="calls per Python measurement")
    p.add_argument("--procs", type=int, default=4, help="processes for the parallel run")
    p.add_argument("--api-n", type=int, default=4_000, help="API round trips per scenario")
    p.add_argument("--clients", type=int, default=8, help="API clients in the second run")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = p.parse_args(argv)

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    env = env_for(args, prefix)
    pg_version = recreate_database(args.database_url)
    key = prepare(env)
    info = machine_info(pg_version)
    import redis

    info["redis"] = redis.Redis.from_url(args.redis_url).info("server")["redis_version"]
    print(json.dumps(info))
    rows = []
    try:
        rows += python_bench(args, env)
        rows += api_bench(args, env, key)
    finally:
        from resilience.circuits.redis_breaker import RedisCircuitStore

        RedisCircuitStore(args.redis_url, prefix).delete_all()
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
