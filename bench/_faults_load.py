"""The fault run's load: a fixed rate of reports with unique event ids, every answer kept.

Open loop over asyncio keep-alive connections: a slow server shows as latency and
timeouts, never as a lower rate. No Django import (see _common.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass

from _common import BodyMaker, report_templates

PATH = "/api/v1/errors/"


@dataclass
class Answer:
    event_id: str
    sent_at: float
    status: int | None = None  # None: no answer (reset, timeout, or never sent)
    error: str = ""
    spooled: bool = False
    retry_after: bool = False
    spool_full: bool = False
    latency: float = 0.0


class Connection:
    """One keep-alive HTTP/1.1 connection over asyncio streams; reconnects when dropped."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nX-Forwarded-Proto: https\r\nContent-Length: "
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(b"%s%d\r\n\r\n%s" % (self.head, len(body), body))
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if "close" in headers.get("connection", "").lower():
            self.close()
        return status, headers, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Loader:
    """Sends `rate` reports a second until stopped, each on an idle connection, a new one
    when all are busy: enough for every report of one timeout to wait at once, so a slow
    server shows as latency and timeouts while the rate stays fixed."""

    def __init__(self, *, port: int, key: str, tag: str, rate: float, timeout: float) -> None:
        self.port, self.key, self.rate, self.timeout = port, key, rate, timeout
        self.max_connections = int(rate * timeout) + 50
        self.bodies = BodyMaker(tag, 0, report_templates())
        self.tag = tag
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=self.timeout + 10)

    async def _run(self) -> None:
        idle: list[Connection] = []
        busy = 0
        tasks: set[asyncio.Task] = set()

        async def one(conn: Connection, body: bytes, answer: Answer) -> None:
            nonlocal busy
            try:
                status, headers, data = await asyncio.wait_for(conn.post(body), self.timeout)
                answer.status = status
                answer.retry_after = "retry-after" in headers
                if 200 <= status < 300:
                    answer.spooled = _says_spooled(data)
                answer.spool_full = status == 503 and b"spool" in data.lower()
                idle.append(conn)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError,
                    IndexError) as exc:
                answer.error = exc.__class__.__name__
                conn.close()
                idle.append(conn)
            finally:
                answer.latency = time.monotonic() - answer.sent_at
                busy -= 1

        start = time.monotonic()
        n = 0
        while not self.stop.is_set():
            due = start + n / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            n += 1
            body = self.bodies.next()
            answer = Answer(event_id=f"{self.tag}-{self.bodies.n}", sent_at=time.monotonic())
            self.answers.append(answer)
            if idle:
                conn = idle.pop()
            elif busy < self.max_connections:
                conn = Connection(self.port, self.key)
            else:
                answer.error = "not sent: every connection waiting"
                continue
            busy += 1
            task = asyncio.create_task(one(conn, body, answer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)
        for conn in idle:
            conn.close()


def _says_spooled(data: bytes) -> bool:
    try:
        parsed = json.loads(data)
    except ValueError:
        return False
    items = parsed if isinstance(parsed, list) else [parsed]
    return any(isinstance(i, dict) and i.get("spooled") is True for i in items)
