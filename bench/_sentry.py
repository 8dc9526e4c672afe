"""The Sentry envelope mode of bench/ingest.py: realistic gzip envelopes sent to
/api/<project>/envelope/ with X-Sentry-Auth, as the Python SDK sends them.

Each event has a 20-frame Python stack trace with source context and local variables,
contexts, breadcrumbs, tags, user and request, about 50 distinct fingerprints (exception
type x in-app call path). Bodies are templates with the event id glued in and gzipped per
request at level 1 (the id changes, so the compressed body does too).

An event is about 10 KB of JSON (2 KB gzipped), 420 bytes a frame: smaller than what
sentry-python 2.x sends for the same stack (its default 5 source lines before and after
each frame: 600 bytes a frame, 16 KB for a 22-frame KeyError measured on 2026-11-30), so
it is not made smaller. A "~5 KB" Python SDK event is a shallower stack (a Django view
error: 4 frames, about 6 KB).
"""

from __future__ import annotations

import json
import random
import uuid
import zlib
from datetime import UTC, datetime

from _common import _FRAMES, _KINDS, _OPERATIONS, _SERVICES, AsyncClient, ThreadClient

EID = "@@" + "E" * 28 + "@@"  # as long as a real event id: item lengths stay right
FINGERPRINTS = 50


def _frame(rng: random.Random, path: str, func: str, code: str) -> dict:
    in_app = path.startswith("app/")
    return {
        "filename": path,
        "abs_path": f"/srv/app/{path}",
        "module": path.removesuffix(".py").replace("/", "."),
        "function": func,
        "lineno": rng.randint(20, 900),
        "context_line": f"    {code}",
        "pre_context": ["", "    # load the order", "    order = self.repo.get(order_id)"],
        "post_context": ["    return result", "", ""],
        "in_app": in_app,
        "vars": {"self": "<OrderService object at 0x7f3a2c1d9e80>",
                 "order_id": f"'ord_{rng.getrandbits(40):010x}'",
                 "attempt": str(rng.randint(0, 3))},
    }


def make_event(rng: random.Random, kind: int, now: datetime, frames_n: int = 20) -> dict:
    code, name, status, errno, template = _KINDS[kind % len(_KINDS)]
    path_rng = random.Random(kind)  # the same kind, the same in-app call path
    frames = [_frame(rng, *path_rng.choice(_FRAMES)) for _ in range(frames_n)]
    svc, op = rng.choice(_SERVICES), rng.choice(_OPERATIONS)
    oid, rid = f"ord_{rng.getrandbits(48):012x}", f"{rng.getrandbits(64):016x}"
    message = template.format(svc=svc, op=op, oid=oid, rid=rid, n=rng.randint(1, 99999))
    return {
        "event_id": EID,
        "timestamp": now.timestamp() - rng.random() * 5,
        "platform": "python",
        "level": "error",
        "logger": "app.worker",
        "server_name": f"{svc}-{rng.randint(1, 12)}",
        "release": f"{svc}@2025.{rng.randint(1, 12)}.{rng.randint(0, 40)}",
        "environment": rng.choice(["production", "production", "staging"]),
        "transaction": f"/v2/orders/{{id}}/{op}",
        "exception": {"values": [{
            "type": name, "value": message, "module": None,
            "mechanism": {"type": "generic", "handled": True},
            "stacktrace": {"frames": frames},
        }]},
        "tags": {"team": rng.choice(["core", "billing", "growth"]), "operation": op,
                 "k8s_node": "n2"},
        "user": {"id": f"usr_{rng.getrandbits(32):08x}", "ip_address": "10.1.2.3"},
        "request": {"method": "POST", "url": f"https://{svc}.internal/v2/orders/{oid}",
                    "headers": {"User-Agent": "curl/8.5", "Content-Type": "application/json"}},
        "contexts": {
            "runtime": {"name": "CPython", "version": "3.11.7"},
            "os": {"name": "Linux", "version": "6.1"},
            "trace": {"trace_id": uuid.uuid4().hex, "span_id": uuid.uuid4().hex[:16]},
        },
        "breadcrumbs": {"values": [
            {"timestamp": now.timestamp() - 1, "category": "query", "message":
             "SELECT * FROM orders WHERE id = %s"},
            {"timestamp": now.timestamp() - 0.5, "category": "httplib",
             "data": {"url": f"https://{svc}.internal/charge", "method": "POST"}},
        ]},
        "sdk": {"name": "sentry.python", "version": "2.75.0",
                "integrations": ["argv", "atexit", "dedupe", "excepthook", "logging",
                                 "modules", "stdlib", "threading"]},
        "extra": {"sys.argv": ["worker.py"], "status": status, "errno": errno, "code": code},
    }


def envelope_templates(count: int = 256, seed: int = 11,
                       frames: int = 20) -> list[tuple[bytes, bytes, bytes]]:
    """Envelopes split around the event id (in the header and in the event); `frames` per
    stack trace (20: about 10 KB of JSON; 8: about 5 KB, the issue's "~5 KB event")."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out = []
    for i in range(count):
        event = json.dumps(make_event(rng, i % FINGERPRINTS, now, frames),
                           separators=(",", ":")).encode()
        header = json.dumps({"event_id": EID, "sent_at": now.isoformat(),
                             "sdk": {"name": "sentry.python", "version": "2.75.0"}}).encode()
        item = json.dumps({"type": "event", "content_type": "application/json",
                           "length": len(event)}).encode()
        text = header + b"\n" + item + b"\n" + event + b"\n"
        first, middle, last = text.split(EID.encode())
        out.append((first, middle, last))
    return out


class EnvelopeMaker:
    """Gzipped envelopes with unique 32-hex event ids (the length does not change)."""

    def __init__(self, tag: str, templates: list[tuple[bytes, bytes, bytes]]) -> None:
        self.prefix = f"{zlib.crc32(tag.encode()):08x}".encode()
        self.templates = templates
        self.n = 0

    def next(self) -> bytes:
        first, middle, last = self.templates[self.n % len(self.templates)]
        self.n += 1
        eid = self.prefix + b"%024x" % self.n
        c = zlib.compressobj(1, zlib.DEFLATED, 31)
        return c.compress(b"".join((first, eid, middle, eid, last))) + c.flush()


def _auth(public_key: str) -> str:
    return f"Sentry sentry_version=7, sentry_client=bench/1.0, sentry_key={public_key}"


class EnvelopeAsyncClient(AsyncClient):
    def __init__(self, host: str, port: int, project: str, public_key: str,
                 timeout: float) -> None:
        super().__init__(host, port, f"/api/{project}/envelope/", "", timeout)
        self.head = (
            f"POST /api/{project}/envelope/ HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"X-Sentry-Auth: {_auth(public_key)}\r\n"
            "Content-Type: application/x-sentry-envelope\r\nContent-Encoding: gzip\r\n"
            "Content-Length: "
        ).encode()


class EnvelopeThreadClient(ThreadClient):
    def __init__(self, host: str, port: int, project: str, public_key: str,
                 timeout: float) -> None:
        super().__init__(host, port, f"/api/{project}/envelope/", "", timeout)
        self.headers = {"X-Sentry-Auth": _auth(public_key),
                        "Content-Type": "application/x-sentry-envelope",
                        "Content-Encoding": "gzip"}


def accepted_envelope(status: int, body: bytes) -> int:
    """Events a 200 answer confirms: one per envelope (each carries one event)."""
    return 1 if status == 200 and b'"id"' in body else 0


def sentry_target(db) -> tuple[str, str]:
    """(project id, public key) of the bench service's key, read with psycopg2."""
    with db.cursor() as cur:
        cur.execute("SELECT service_id, public_key FROM resilience_servicekey "
                    "WHERE revoked_at IS NULL ORDER BY id LIMIT 1")
        service_id, public_key = cur.fetchone()
    return str(service_id), public_key
