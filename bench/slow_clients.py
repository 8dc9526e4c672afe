#!/usr/bin/env python
"""Slow senders: do 20 clients trickling a request body stall Faultline's /healthz?

Run by hand (`make bench-slow-clients` or `.venv/bin/python bench/slow_clients.py`), never
by the test suite. Loopback only, bounded in time and requests, stops by itself. It:

1. needs nginx (Debian's package: `apt-get install nginx`) and exits 2 without it;
2. drops and recreates its own PostgreSQL database (default
   postgres://postgres@127.0.0.1:5432/faultline_bench_slow), migrates it and makes a
   service key;
3. starts gunicorn as production runs it (`-c deploy/gunicorn.conf.py`, production
   settings) on a free loopback port, and nginx with the committed `deploy/nginx.conf`
   (only its listen address and upstream port rewritten) in a temporary prefix;
4. for each way in (straight to gunicorn, then through nginx), probes `GET /healthz`
   for --duration seconds with no slow senders, then again while --senders sockets each
   send a `POST /api/v1/errors/` with headers and the first bytes of its body and then one
   more byte every --trickle seconds;
5. prints a table of the probes (answered, failed, latency), stops nginx and gunicorn.

Exit status: 0 when every probe through nginx was answered, 1 otherwise, 2 without nginx.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Process,
    free_port,
    machine_info,
    percentile,
    production_env,
    recreate_database,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/faultline_bench_slow"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
# The committed config's addresses, rewritten for the benchmark's ports.
NGINX_LISTEN = "listen 80;"
NGINX_UPSTREAM = "server 127.0.0.1:8000;"

KEY_SNIPPET = """
import django
django.setup()
from resilience.models import Service
from resilience.ingest.keys import service_key_create
service = Service.objects.create(name="bench-slow", slug="bench-slow")
print(service_key_create(service=service, label="bench-slow")[1])
"""


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


# --- the servers -------------------------------------------------------------------------


def server_env(database_url: str) -> dict[str, str]:
    return production_env(database_url=database_url, redis_url="", TRUSTED_PROXY_COUNT="1")


def prepare(env: dict[str, str]) -> str:
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
                   cwd=ROOT, env=env, check=True)
    done = subprocess.run([str(BIN / "python"), "-c", KEY_SNIPPET], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"creating the service key failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def start_gunicorn(env: dict[str, str], workdir: Path) -> Process:
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}",
           "config.wsgi:application"]
    return Process("gunicorn", cmd, env, port, workdir, cwd=ROOT)


def nginx_site(upstream_port: int, listen_port: int) -> str:
    """deploy/nginx.conf as committed, with only its two addresses changed."""
    text = NGINX_CONF.read_text()
    for token in (NGINX_LISTEN, NGINX_UPSTREAM):
        if text.count(token) != 1:
            raise SystemExit(f"{NGINX_CONF} must contain {token!r} exactly once")
    return (text.replace(NGINX_LISTEN, f"listen 127.0.0.1:{listen_port};")
                .replace(NGINX_UPSTREAM, f"server 127.0.0.1:{upstream_port};"))


def start_nginx(nginx: str, upstream_port: int, workdir: Path) -> Process:
    port = free_port()
    prefix = workdir / "nginx"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
        (prefix / sub).chmod(0o777)  # nginx's workers may run as another user (root: nobody)
    (prefix / "faultline.conf").write_text(nginx_site(upstream_port, port))
    (prefix / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/faultline.conf;
}}
""")
    base = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
            "-e", str(prefix / "error.log")]
    checked = subprocess.run([*base, "-t"], capture_output=True, text=True)
    if checked.returncode != 0:
        raise SystemExit(f"nginx refused the configuration:\n{checked.stderr}")
    return Process("nginx", base, None, port, workdir, cwd=ROOT)


# --- the slow senders and the probe --------------------------------------------------------


@dataclass
class Senders:
    """`count` sockets, each holding a POST whose body never finishes (until `stop`)."""

    port: int
    count: int
    key: str  # "" sends no Authorization header
    trickle: float
    body_length: int = 4096
    sockets: list[socket.socket] = field(default_factory=list)
    dropped: int = 0  # closed or reset by the server while trickling
    answered: int = 0  # got an answer (e.g. 408, 400) before the end
    bytes_sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        auth = f"Authorization: Bearer {self.key}\r\n" if self.key else ""
        head = (f"POST /api/v1/errors/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{auth}"
                f"Content-Type: application/json\r\nContent-Length: {self.body_length}\r\n"
                "\r\n").encode()
        for _ in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(head + b'{"code": "')
            sock.setblocking(False)
            self.sockets.append(sock)
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        live = list(self.sockets)
        while live and not self._stop.wait(self.trickle):
            for sock in list(live):
                try:
                    data = sock.recv(1024, socket.MSG_PEEK)
                    if data:
                        self.answered += 1
                    else:
                        self.dropped += 1  # closed by the server
                    live.remove(sock)
                    continue
                except BlockingIOError:
                    pass  # nothing from the server: still waiting for our body
                except OSError:
                    self.dropped += 1
                    live.remove(sock)
                    continue
                try:
                    sock.send(b"x")
                    self.bytes_sent += 1
                except BlockingIOError:
                    pass
                except OSError:
                    self.dropped += 1
                    live.remove(sock)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


@dataclass
class ProbeResult:
    way: str
    senders: int
    probes: int = 0
    ok: int = 0
    failed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    longest_without_answer_s: float = 0.0


def _one_probe(port: int, timeout: float) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def probe(port: int, *, duration: float, interval: float, timeout: float, way: str,
          senders: int) -> ProbeResult:
    """GET /healthz on a new connection every `interval` s for `duration` s, each in its own
    thread, so a probe that hangs does not delay the next one (at most timeout/interval
    probes are in flight)."""
    result = ProbeResult(way=way, senders=senders)
    answers: list[float] = []
    lock = threading.Lock()

    def run(scheduled: float) -> None:
        ok = _one_probe(port, timeout)
        done = time.monotonic()
        with lock:
            if ok:
                result.ok += 1
                result.latencies_ms.append((done - scheduled) * 1000)
                answers.append(done)
            else:
                result.failed += 1

    start = time.monotonic()
    threads = []
    while (scheduled := start + result.probes * interval) < start + duration:
        time.sleep(max(0.0, scheduled - time.monotonic()))
        thread = threading.Thread(target=run, args=(scheduled,), daemon=True)
        thread.start()
        threads.append(thread)
        result.probes += 1
    for thread in threads:
        thread.join(timeout + 1)
    marks = [start, *sorted(answers), start + duration]
    result.longest_without_answer_s = max(b - a for a, b in itertools.pairwise(marks))
    return result


def wait_until_answering(port: int, limit: float) -> bool:
    """After the senders are gone: does /healthz answer again within `limit` seconds?"""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def run_way(way: str, port: int, key: str, args) -> list[ProbeResult]:
    results = []
    for senders in (0, args.senders):
        slow = Senders(port=port, count=senders, key=key, trickle=args.trickle)
        slow.start()
        try:
            time.sleep(1.0 if senders else 0.0)  # let the senders reach the server first
            r = probe(port, duration=args.duration, interval=args.interval,
                      timeout=args.probe_timeout, way=way, senders=senders)
        finally:
            slow.stop()
        if senders:
            print(f"  {way}: {senders} senders sent {slow.bytes_sent} trickled bytes; "
                  f"{slow.answered} answered, {slow.dropped} dropped by the server")
        results.append(r)
        if not wait_until_answering(port, 15.0):
            print(f"  {way}: /healthz still not answering 15 s after the senders left")
    return results


# --- output --------------------------------------------------------------------------------


def table(results: list[ProbeResult], probe_timeout: float) -> str:
    lines = [
        "| way in | slow senders | probes | answered | failed (no answer within "
        f"{probe_timeout:g} s) | p50 ms | p95 ms | max ms | longest without an answer, s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lat = sorted(r.latencies_ms)
        lines.append(
            f"| {r.way} | {r.senders} | {r.probes} | {r.ok} | {r.failed} | "
            f"{percentile(lat, 50):.1f} | {percentile(lat, 95):.1f} | "
            f"{(lat[-1] if lat else 0):.1f} | {r.longest_without_answer_s:.1f} |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Slow senders against gunicorn alone and behind deploy/nginx.conf "
        "(drops and recreates the benchmark database).")
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB),
                   help="database to DROP and recreate (default %(default)s)")
    p.add_argument("--senders", type=int, default=20, help="slow sockets (default 20)")
    p.add_argument("--trickle", type=float, default=1.0,
                   help="seconds between two trickled body bytes per sender (default 1)")
    p.add_argument("--anonymous", action="store_true",
                   help="senders send no service key (the app answers 401 before reading "
                   "the body; see whether the server is stalled all the same)")
    p.add_argument("--duration", type=float, default=15.0,
                   help="seconds of probing per scenario (default 15)")
    p.add_argument("--interval", type=float, default=0.25,
                   help="seconds between two /healthz probes (default 0.25)")
    p.add_argument("--probe-timeout", type=float, default=2.0,
                   help="a probe with no answer within this is failed (default 2 s)")
    args = p.parse_args(argv)
    if not 0 < args.senders <= 200:
        p.error("--senders must be between 1 and 200")
    if not 0 < args.duration <= 120:
        p.error("--duration must be between 0 and 120 s")
    if args.interval < 0.05:
        p.error("--interval must be at least 0.05 s")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    nginx = find_nginx()
    if nginx is None:
        print("nginx is not installed. Install Debian's package and run again:\n"
              "  apt-get install nginx", file=sys.stderr)
        return 2
    env = server_env(args.database_url)
    pg = recreate_database(args.database_url)
    print("Faultline slow-client benchmark")
    for k, v in machine_info(pg).items():
        print(f"  {k:<10} {v}")
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
    print(f"  nginx      {version}")
    print(f"  senders    {args.senders}, each: headers + 10 body bytes of 4096, then 1 byte "
          f"every {args.trickle:g} s, {'no key' if args.anonymous else 'a valid key'}")
    print(f"  probes     GET /healthz every {args.interval:g} s for {args.duration:g} s, "
          f"timeout {args.probe_timeout:g} s")
    sys.stdout.flush()
    key = prepare(env)
    if args.anonymous:
        key = ""
    workdir = Path(tempfile.mkdtemp(prefix="faultline-bench-slow-"))
    workdir.chmod(0o755)
    gunicorn = start_gunicorn(env, workdir)
    front = None
    results: list[ProbeResult] = []
    try:
        gunicorn.wait_ready()
        results += run_way("gunicorn (gthread) alone", gunicorn.port, key, args)
        front = start_nginx(nginx, gunicorn.port, workdir)
        front.wait_ready()
        results += run_way("nginx (deploy/nginx.conf) → gunicorn", front.port, key, args)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping nginx and gunicorn", file=sys.stderr)
        return 130
    finally:
        if front is not None:
            front.stop()
        gunicorn.stop()
    print()
    print(table(results, args.probe_timeout))
    print(f"\nlogs: {workdir}")
    behind_nginx = [r for r in results if r.way.startswith("nginx")]
    return 0 if behind_nginx and all(r.failed == 0 for r in behind_nginx) else 1


if __name__ == "__main__":
    sys.exit(main())
