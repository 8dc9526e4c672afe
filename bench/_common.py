"""Helpers for the benchmarks in bench/: the machine, realistic reports, a light HTTP client.

Nothing here imports Django: the load generator must stay as cheap as possible, and the
server under test runs in its own processes.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import platform
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

# --- the machine -------------------------------------------------------------------------


def machine_info(pg_version: str = "") -> dict[str, str]:
    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    try:
        nproc = str(len(os.sched_getaffinity(0)))
    except AttributeError:
        nproc = str(os.cpu_count())
    return {
        "nproc": nproc,
        "cpu": cpu_model,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg_version,
    }


def production_env(*, database_url: str, redis_url: str, broker_url: str = "memory://",
                   var_dir: str = "faultline-bench-var", **settings: str) -> dict[str, str]:
    """This process's environment with Faultline's production settings for a bench server
    or worker on loopback: a throwaway secret key, no TLS redirect, the given database,
    Redis and broker, its own var dir under the temporary directory, and `settings`
    (FAULTLINE_* and the like) on top."""
    import tempfile

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="bench-only-secret-key-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=broker_url,
        FAULTLINE_VAR_DIR=f"{tempfile.gettempdir()}/{var_dir}",
    )
    env.update(settings)  # may replace any of the above (DJANGO_SETTINGS_MODULE, say)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


# --- realistic reports -------------------------------------------------------------------

_SERVICES = ["payments-api", "ledger", "notifier", "search", "inventory", "auth"]
_OPERATIONS = [
    "payment.charge", "payment.refund", "timer.execute", "campaign.send", "ledger.post",
    "inventory.reserve", "email.deliver", "webhook.dispatch", "search.index", "user.signup",
]
_FRAMES = [
    ("app/services/payments.py", "charge", "response = self.client.post(url, json=body)"),
    ("app/clients/http.py", "post", "return self._request('POST', url, **kwargs)"),
    ("app/clients/http.py", "_request", "resp = self.session.request(method, url, **kw)"),
    ("requests/sessions.py", "request", "resp = self.send(prep, **send_kwargs)"),
    ("requests/sessions.py", "send", "r = adapter.send(request, **kwargs)"),
    ("requests/adapters.py", "send", "resp = conn.urlopen(method=request.method, url=url)"),
    ("urllib3/connectionpool.py", "urlopen", "httplib_response = self._make_request(conn)"),
    ("urllib3/connectionpool.py", "_make_request", "conn.request(method, url, **kw)"),
    ("urllib3/connection.py", "connect", "self.sock = self._new_conn()"),
    ("app/tasks/timers.py", "execute", "result = handler.run(timer, attempt=attempt)"),
    ("app/db/repo.py", "save", "self.session.flush()"),
    ("sqlalchemy/orm/session.py", "flush", "self._flush(objects)"),
    ("app/api/views.py", "post", "order = OrderService(self.db).create(payload)"),
    ("app/domain/orders.py", "create", "self.validate(payload)"),
    ("pydantic/main.py", "__init__", "raise validation_error"),
]
# (code, name, status, errno, message template)
_KINDS = [
    ("ECONNREFUSED", "ConnectionRefusedError", None, 111,
     "connection to {svc}:443 refused while calling {op} for order {oid}"),
    ("ETIMEDOUT", "TimeoutError", None, 110,
     "read timed out after 30000 ms calling {svc} (request {rid})"),
    ("ECONNRESET", "ConnectionResetError", None, 104,
     "connection reset by peer {svc}:5432 during {op} (txn {rid})"),
    ("503", "HTTPError", 503, None,
     "503 Service Unavailable from https://{svc}.internal/v2/orders/{oid}"),
    ("429", "HTTPError", 429, None,
     "429 Too Many Requests from {svc}; retry-after 12 s (key {rid})"),
    ("502", "HTTPError", 502, None, "502 Bad Gateway from {svc} for {op} order {oid}"),
    ("ValidationError", "ValidationError", None, None,
     "1 validation error for Order: amount must be positive (got -{n}) order {oid}"),
    ("IntegrityError", "IntegrityError", None, None,
     'duplicate key value violates unique constraint "orders_ref_key" (ref)=({oid})'),
    ("KeyError", "KeyError", None, None, "'customer_{n}' missing from cache during {op}"),
    ("DeadlockDetected", "OperationalError", None, None,
     "deadlock detected: process {n} waits for ShareLock on transaction {rid}"),
]


def _stack(rng: random.Random, name: str, message: str) -> str:
    lines = ["Traceback (most recent call last):"]
    for _ in range(9):
        path, func, code = rng.choice(_FRAMES)
        lines.append(f'  File "/srv/app/{path}", line {rng.randint(20, 900)}, in {func}')
        lines.append(f"    {code}")
    lines.append(f"{name}: {message}")
    return "\n".join(lines)  # 20 lines


def make_report(rng: random.Random, now: datetime) -> dict:
    """One realistic report without an event_id (the sender adds a unique one)."""
    code, name, status, errno, template = rng.choice(_KINDS)
    svc = rng.choice(_SERVICES)
    op = rng.choice(_OPERATIONS)
    oid = f"ord_{rng.getrandbits(48):012x}"
    rid = f"{rng.getrandbits(64):016x}"
    message = template.format(svc=svc, op=op, oid=oid, rid=rid, n=rng.randint(1, 99999))
    report: dict = {
        "code": code,
        "name": name,
        "message": message,
        "stack_trace": _stack(rng, name, message),
        "operation": op,
        "component": f"{svc}-worker",
        "attempt_count": rng.randint(0, 4),
        "environment": rng.choice(["production", "production", "staging"]),
        "release": f"2025.{rng.randint(1, 12)}.{rng.randint(0, 40)}",
        "timestamp": (now - timedelta(milliseconds=rng.randint(0, 5000))).isoformat(),
        "user_id": f"usr_{rng.getrandbits(32):08x}",
        "context": {
            "host": f"{svc}-{rng.randint(1, 12)}.prod.internal",
            "pid": rng.randint(1000, 65000),
            "request_id": rid,
            "region": rng.choice(["eu-west-1", "us-east-1"]),
            "url": f"https://{svc}.internal/v2/orders/{oid}",
        },
        "payload": {
            "order_id": oid,
            "amount_cents": rng.randint(100, 99999),
            "currency": "EUR",
            "customer": {"id": f"cus_{rng.getrandbits(40):010x}", "tier": "gold"},
            "items": [{"sku": f"SKU-{rng.randint(1000, 9999)}", "qty": rng.randint(1, 3)}
                      for _ in range(rng.randint(1, 3))],
        },
        "tags": {"team": rng.choice(["core", "billing", "growth"]), "k8s_node": "n2"},
    }
    if status is not None:
        report["status"] = status
    if errno is not None:
        report["errno"] = errno
    if rng.random() < 0.3:
        report["campaign_id"] = f"cmp_{rng.randint(1, 500)}"
    if rng.random() < 0.3:
        report["timer_id"] = f"tmr_{rng.randint(1, 5000)}"
    return report


EID = "@@EID@@"


def report_templates(count: int = 256, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """`count` pre-serialised reports, split around the event_id so a sender only glues
    prefix + unique id + suffix per report (no json.dumps on the hot path)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out = []
    for _ in range(count):
        report = {"event_id": EID, **make_report(rng, now)}
        text = json.dumps(report, separators=(",", ":")).encode()
        head, tail = text.split(EID.encode())
        out.append((head, tail))
    return out


class BodyMaker:
    """Builds request bodies with unique event ids: `<tag>-<n>`."""

    def __init__(self, tag: str, batch: int, templates: list[tuple[bytes, bytes]]) -> None:
        self.tag = tag.encode()
        self.batch = batch
        self.templates = templates
        self.n = 0

    def next(self) -> bytes:
        tpl = self.templates
        k = len(tpl)
        if self.batch == 0:
            head, tail = tpl[self.n % k]
            self.n += 1
            return b"".join((head, self.tag, b"-%d" % self.n, tail))
        parts = []
        for _ in range(self.batch):
            head, tail = tpl[self.n % k]
            self.n += 1
            parts.append(b"".join((head, self.tag, b"-%d" % self.n, tail)))
        return b"[" + b",".join(parts) + b"]"


def accepted_events(status: int, body: bytes, batch: int) -> int:
    """Events a 201 answer confirms: 1 for a single report, the list's length for a batch."""
    if status != 201:
        return 0
    if batch == 0:
        return 1 if b'"id":' in body else 0
    return len(json.loads(body))


# --- clients -----------------------------------------------------------------------------


class ThreadClient:
    """One persistent keep-alive HTTP/1.1 connection (http.client), blocking."""

    def __init__(self, host: str, port: int, path: str, key: str, timeout: float) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.path = path
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def post(self, body: bytes) -> tuple[int, bytes]:
        try:
            self.conn.request("POST", self.path, body=body, headers=self.headers)
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnects on the next request
            raise

    def close(self) -> None:
        self.conn.close()


class AsyncClient:
    """One persistent keep-alive HTTP/1.1 connection over raw asyncio streams."""

    def __init__(self, host: str, port: int, path: str, key: str, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            "Content-Length: "
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, limit=16 * 1024 * 1024
        )

    async def post(self, body: bytes) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._post(body), self.timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            self.close()
            raise

    async def _post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(b"%s%d\r\n\r\n" % (self.head, len(body)))
        self.writer.write(body)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        close = False
        for line in head.split(b"\r\n")[1:]:
            lower = line.lower()
            if lower.startswith(b"content-length:"):
                length = int(line[15:])
            elif lower.startswith(b"connection:") and b"close" in lower:
                close = True
        if length < 0:
            raise ValueError("response without Content-Length")
        data = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def wait_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


# --- where the CPU goes ------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_total() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def context_switches() -> int:
    """Context switches on the whole machine so far (/proc/stat `ctxt`). Each is a thread
    handing the CPU on, and on this VM a hand-off can leave a core idle while the next
    thread wakes: single reports make about four times as many per request as the
    do-nothing view (docs/performance.md, *Where single reports leave the CPU idle*)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("ctxt "):
                return int(line.split()[1])
    return 0


def _pg_role(pid: str, dbname: str) -> str:
    """'postgres' for our database's backends and PostgreSQL's own helper processes,
    'other' for backends serving other databases (e.g. someone's test run)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    is_backend = "(" in cmd or "[local]" in cmd
    return "postgres" if not is_backend or f" {dbname} " in cmd else "other"


def cpu_by_process(dbname: str = "") -> dict[int, tuple[str, int, float]]:
    """pid → (kind, process group, CPU seconds used so far); kind is the command name,
    or 'postgres' / 'other' for PostgreSQL processes (see _pg_role)."""
    out = {}
    for pid, stat in proc_stats():
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if comm.startswith(("postgres", "postmaster")):
            comm = _pg_role(str(pid), dbname)
        elif comm.startswith("kworker/"):
            # A kernel worker's name changes with its work (…-writeback, …-events): one
            # kind, or a watch would take each rename for a new process and count its
            # whole life again.
            comm = "kworker"
        rest = stat[stat.rindex(")") + 2 :].split()
        out[pid] = (comm, int(rest[2]), (int(rest[11]) + int(rest[12])) / CLK_TCK)
    return out


def proc_stats() -> Iterator[tuple[int, str]]:
    """(pid, the text of /proc/<pid>/stat) for every process alive while it is read."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                yield int(name), f.read()
        except OSError:  # it ended meanwhile
            continue


class CpuWatch:
    """CPU seconds used from start() to stop() by each of the named process groups (the
    server's, a Celery worker's) and by PostgreSQL (see _pg_role).

    Polled every `interval` seconds, so a process that ends in between counts up to the last
    poll that saw it: Django replaces a connection older than CONN_MAX_AGE (60 s), and its
    backend's CPU was lost when only the two ends were read (a soak counted a quarter of
    PostgreSQL's CPU per event that way).
    """

    def __init__(self, dbname: str, groups: dict[str, int], interval: float = 1.0) -> None:
        self.dbname, self.interval = dbname, interval
        self.groups = {pgid: name for name, pgid in groups.items()}
        self._seen: dict[int, list] = {}  # pid -> [kind, pgrp, CPU at start, CPU last seen]
        self._ended: list[list] = []
        # (time, {part or command name: CPU seconds since the poll before}) per poll: what
        # the machine did in each second, so a stall can be set beside what ran then.
        self.timeline: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-watch", daemon=True)

    def label(self, kind: str, pgrp: int) -> str:
        """A process's part: its group's name (server, worker), else its command name."""
        return self.groups.get(pgrp, kind)

    def poll(self) -> None:
        tick: dict[str, float] = {}
        for pid, (kind, pgrp, used) in cpu_by_process(self.dbname).items():
            seen = self._seen.get(pid)
            if seen is not None and seen[0] == kind and used >= seen[3]:
                label = self.label(kind, pgrp)
                tick[label] = tick.get(label, 0.0) + used - seen[3]
                seen[3] = used
                continue
            if seen is not None:  # the pid now belongs to another process
                self._ended.append(seen)
            # Born since start (the first poll is the baseline): all of its CPU counts.
            self._seen[pid] = [kind, pgrp, used if self._baseline else 0.0, used]
            if not self._baseline:
                label = self.label(kind, pgrp)
                tick[label] = tick.get(label, 0.0) + used
        if not self._baseline:
            self.timeline.append((time.time(), tick))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def start(self) -> CpuWatch:
        self._baseline = True
        self.poll()
        self._baseline = False
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self.poll()
        out = dict.fromkeys([*self.groups.values(), "postgres"], 0.0)
        for kind, pgrp, first, last in [*self._seen.values(), *self._ended]:
            if pgrp in self.groups:
                out[self.groups[pgrp]] += last - first
            elif kind == "postgres":
                out["postgres"] += last - first
        return out

    def by_label(self) -> dict[str, float]:
        """CPU seconds per part and per command name over the whole watch (after stop):
        what "other" was made of."""
        out: dict[str, float] = {}
        for kind, pgrp, first, last in [*self._seen.values(), *self._ended]:
            label = self.label(kind, pgrp)
            out[label] = out.get(label, 0.0) + last - first
        return out


def busy_fraction(seconds: float = 1.0) -> float:
    """How busy the machine is right now (0..1), sampled over `seconds`."""
    b0, t0 = cpu_total()
    time.sleep(seconds)
    b1, t1 = cpu_total()
    return (b1 - b0) / max(t1 - t0, 1e-9)


def recreate_database(url: str) -> str:
    """DROP and CREATE the benchmark database named in `url`; returns the server version."""
    from urllib.parse import urlparse

    import psycopg2

    u = urlparse(url)
    name = u.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing odd database name {name!r}")
    conn = psycopg2.connect(host=u.hostname or "127.0.0.1", port=u.port or 5432,
                            user=u.username or "postgres", password=u.password or None,
                            dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
        cur.execute("SELECT version()")
        version = cur.fetchone()[0].split(" on ")[0]
    conn.close()
    return version


class Process:
    """A server in a session of its own, stopped (SIGTERM, then SIGKILL) by stop()."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str] | None, port: int,
                 workdir: Path, *, cwd: Path) -> None:
        self.name, self.port = name, port
        self.log_path = workdir / f"{name}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - kept open while it runs
        # A session of its own: Ctrl-C reaches only the bench script, which then stops it.
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see "
                                   f"{self.log_path}")
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.log.close()
