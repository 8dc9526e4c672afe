#!/usr/bin/env python
"""Whole requests in-process: a native report beside Sentry envelopes, through Django's
WSGI handler with every middleware, the view, ingest() and the group committer's COPY, on
a real PostgreSQL and Redis, without an HTTP server.

Run by hand (`.venv/bin/python bench/sentry_requests.py`), never by the test suite. It is
what bench/sentry_steps.py leaves out (the view around the steps, the answer, the write,
the allocations a bigger event makes) and what bench/ingest.py adds (gunicorn, sockets,
32 clients), so the three together say where an envelope's extra CPU goes.

Two measures per kind of request:

- process CPU per request (`time.process_time`, every thread: the committer's too), the
  fastest of `--passes` passes, each with fresh event ids. Other load on a shared machine
  still moves it by tens of percent;
- with `--instructions`, instructions per request as valgrind's callgrind counts them,
  which other load barely moves: two runs per kind that differ only in their number of
  requests, so start-up and warm-up cancel out. The per-process caches that expire by
  time (keys, rules, scrubbing settings, circuit settings), the committer's id blocks and
  the database connection are kept for an hour in those runs, as a server keeps them for
  as many requests: under valgrind a request takes 50 times as long. What still goes by
  the clock (the committer checks its connection once a second) adds a little more the
  slower the run: compare runs made one after the other, not side by side.

Bodies are bench/_common.py's reports and bench/_sentry.py's envelopes, as bench/ingest.py
sends them. The database (`--database-url`) is created and migrated when missing, never
dropped; each run adds a service key and its rows.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from _common import BodyMaker, production_env, report_templates  # noqa: E402
from _sentry import EnvelopeMaker, envelope_templates  # noqa: E402

KINDS = {"native": 0, "envelope5k": 8, "envelope": 20}  # frames per event (0: native)
# Caches that expire by time, kept in the counted runs (see the module docstring).
STEADY_CACHES = ("AUTH_CACHE_SECONDS", "RULES_CACHE_SECONDS", "SCRUB_SETTINGS_CACHE_SECONDS",
                 "CIRCUIT_SETTINGS_CACHE_SECONDS")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url",
                   default="postgres://postgres@127.0.0.1:5432/faultline_bench_requests",
                   help="created and migrated when missing, never dropped")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"of {', '.join(KINDS)}")
    p.add_argument("--requests", type=int, default=500, help="per pass")
    p.add_argument("--passes", type=int, default=5)
    p.add_argument("--warmup", type=int, default=200, help="requests of each kind first")
    p.add_argument("--instructions", action="store_true",
                   help="count instructions per request with valgrind's callgrind instead")
    p.add_argument("--counted", action="store_true", help=argparse.SUPPRESS)  # one run inside
    return p.parse_args(argv)


def setup_django(args) -> None:
    os.environ.update(production_env(
        database_url=args.database_url, redis_url=args.redis_url,
        var_dir=f"faultline-bench-var-{urlparse(args.database_url).path.lstrip('/')}",
        LOG_LEVEL="WARNING", FAULTLINE_INGEST_GROUP_COMMIT="true",
    ))
    if args.counted:
        os.environ.update({f"FAULTLINE_{name}": "3600" for name in STEADY_CACHES})
        # Django renews a connection older than CONN_MAX_AGE (60 s): minutes under valgrind,
        # so a longer run would pay more renewals than a server does for as many requests.
        os.environ["CONN_MAX_AGE"] = "3600"
    _create_database(args.database_url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _create_database(url: str) -> None:
    import psycopg2

    u = urlparse(url)
    name = u.path.lstrip("/")
    conn = psycopg2.connect(host=u.hostname or "127.0.0.1", port=u.port or 5432,
                            user=u.username or "postgres", password=u.password or None,
                            dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


class Requests:
    """WSGI environs as gunicorn builds them, for one kind, with fresh event ids."""

    def __init__(self) -> None:
        from resilience.ingest.keys import service_key_create
        from resilience.models import Service

        service, _ = Service.objects.get_or_create(slug="bench-requests",
                                                   defaults={"name": "bench-requests"})
        key, self.raw_key = service_key_create(service=service, label="requests",
                                               rate_limit_per_minute=0)
        self.project = service.pk
        self.auth = f"Sentry sentry_version=7, sentry_client=bench/1.0, sentry_key={key.public_key}"
        self.templates = {kind: (envelope_templates(frames=frames) if frames
                                 else report_templates()) for kind, frames in KINDS.items()}
        self.made = 0

    def make(self, kind: str, count: int) -> list[dict]:
        self.made += 1
        tag = f"{time.time_ns():x}-{self.made}"
        if KINDS[kind] == 0:
            bodies = BodyMaker(tag, 0, self.templates[kind])
            return [_environ("/api/v1/errors/", bodies.next(), {
                "HTTP_AUTHORIZATION": f"Bearer {self.raw_key}",
                "CONTENT_TYPE": "application/json"}) for _ in range(count)]
        envelopes = EnvelopeMaker(tag, self.templates[kind])
        return [_environ(f"/api/{self.project}/envelope/", envelopes.next(), {
            "HTTP_X_SENTRY_AUTH": self.auth, "CONTENT_TYPE": "application/x-sentry-envelope",
            "HTTP_CONTENT_ENCODING": "gzip"}) for _ in range(count)]


def _environ(path: str, body: bytes, headers: dict[str, str]) -> dict:
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.input_terminated": True, "CONTENT_LENGTH": str(len(body)),
    }
    environ.update(headers)
    return environ


def run_all(app, environs: list[dict]) -> None:
    status: list[str] = []

    def start_response(line, headers, exc_info=None):
        status.append(line)

    for environ in environs:
        response = app(environ, start_response)
        body = b"".join(response)
        response.close()
        if not status[-1].startswith(("200", "201")):
            raise SystemExit(f"{environ['PATH_INFO']} answered {status[-1]}: {body[:300]!r}")


def cpu_per_request(args) -> None:
    from config.wsgi import application as app  # as gunicorn loads it (gc.freeze())

    requests = Requests()
    print(f"process CPU per request (the fastest of {args.passes} passes of "
          f"{args.requests}, every thread):")
    for kind in args.kinds.split(","):
        run_all(app, requests.make(kind, args.warmup))
        best = float("inf")
        for _ in range(args.passes):
            environs = requests.make(kind, args.requests)
            started = time.process_time()
            run_all(app, environs)
            best = min(best, time.process_time() - started)
        print(f"  {kind:<11} {best / args.requests * 1000:6.3f} ms", flush=True)


def counted_run(args) -> None:
    """One run under callgrind: warm-up, then the requests (their count is what differs)."""
    from config.wsgi import application as app  # as gunicorn loads it (gc.freeze())
    from resilience.ingest import entry_writer

    requests = Requests()
    # The committer takes ids a block at a time, a block at most a second old: under
    # valgrind a second is a few requests, so the block is kept as a server keeps it.
    entry_writer.committer().ids.seconds = 3600
    (kind,) = args.kinds.split(",")
    run_all(app, requests.make(kind, args.warmup))
    run_all(app, requests.make(kind, args.requests))
    time.sleep(0.5)  # the committer's last commit, and the digest's schedule after it


def instructions_per_request(args) -> None:
    counts = (args.requests, 3 * args.requests)
    print(f"instructions per request (callgrind; runs of {counts[0]} and {counts[1]} "
          f"requests after {args.warmup} of warm-up, every thread):")
    with tempfile.TemporaryDirectory(prefix="faultline-callgrind-") as tmp:
        for kind in args.kinds.split(","):
            totals = []
            for count in counts:
                out = Path(tmp) / f"{kind}-{count}.out"
                subprocess.run(
                    ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                     sys.executable, __file__, "--counted", "--kinds", kind,
                     "--requests", str(count), "--warmup", str(args.warmup),
                     "--database-url", args.database_url, "--redis-url", args.redis_url],
                    check=True, capture_output=True)
                totals.append(int(re.search(r"^summary: (\d+)", out.read_text(), re.M)[1]))
            per = (totals[1] - totals[0]) / (counts[1] - counts[0])
            print(f"  {kind:<11} {per / 1e6:6.2f} M", flush=True)


def main(argv=None) -> None:
    args = parse_args(argv)
    for kind in args.kinds.split(","):
        if kind not in KINDS:
            raise SystemExit(f"unknown kind {kind!r}: {', '.join(KINDS)}")
    setup_django(args)  # creates and migrates the database outside the counted runs
    if args.instructions:
        instructions_per_request(args)
    elif args.counted:
        counted_run(args)
    else:
        cpu_per_request(args)


if __name__ == "__main__":
    main()
