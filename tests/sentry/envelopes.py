"""Building Sentry envelopes and events by hand for the tests (no SDK involved)."""

import functools
import gzip
import json
import uuid
import zlib

import brotli
import zstandard


def event_id() -> str:
    return uuid.uuid4().hex


def exception_event(*, eid: str | None = None, type_="ConnectionRefusedError",
                    value="connection refused", module=None, **fields) -> dict:
    frames = [
        {"filename": "app/orders/views.py", "module": "app.orders.views",
         "function": "create_order", "lineno": 10, "context_line": "charge(order)",
         "in_app": True},
        {"filename": "app/payments/client.py", "module": "app.payments.client",
         "function": "charge", "lineno": 88, "context_line": "sock.connect(addr)",
         "in_app": True},
    ]
    exc = {"type": type_, "value": value, "stacktrace": {"frames": frames}}
    if module:
        exc["module"] = module
    event = {"event_id": eid or event_id(), "platform": "python", "level": "error",
             "exception": {"values": [exc]}}
    event.update(fields)
    return event


def envelope(*items, headers: dict | None = None, lengths: bool = True) -> bytes:
    """items: (item_type, payload dict or bytes) pairs."""
    lines = [json.dumps(headers or {}).encode()]
    for item_type, payload in items:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        header = {"type": item_type}
        if lengths:
            header["length"] = len(data)
        lines += [json.dumps(header).encode(), data]
    return b"\n".join(lines) + b"\n"


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "deflate-raw":
        c = zlib.compressobj(wbits=-15)
        return c.compress(data) + c.flush()
    if encoding == "br":
        return brotli.compress(data)
    if encoding == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


@functools.cache
def zeros_bomb(encoding: str, size: int = 200 * 1000 * 1000) -> bytes:
    """`size` zero bytes compressed (200 MB → ~200 KB with gzip), built piece by piece."""
    if encoding in ("gzip", "deflate"):
        c = zlib.compressobj(1, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
        block = bytes(1024 * 1024)
        return b"".join(c.compress(block) for _ in range(size // len(block))) + c.flush()
    if encoding == "br":
        return brotli.compress(bytes(size), quality=1)
    return zstandard.ZstdCompressor(level=1).compress(bytes(size))
