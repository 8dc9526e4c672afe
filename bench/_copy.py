"""The raw COPY ceiling for the batch scenarios (`copy-c1`, `copy-c4` in bench/ingest.py).

The rows a batch scenario stored are read back with `COPY (SELECT <every column but id> …)
TO STDOUT` and held in memory; then the same number of psycopg2 connections as the batch
scenario had clients COPY them into `bench_copy_scratch`, a table made `LIKE` the entries
table `INCLUDING ALL` (same columns, defaults and indexes; foreign keys are not copied by
LIKE), 1,000 rows per COPY + COMMIT. That is the cost of writing the same rows into a table
of the same shape with nothing of Faultline in between. The table is dropped afterwards.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import resource
import signal
import time
from collections.abc import Callable

ENTRIES = "resilience_errorlogentry"
SCRATCH = "bench_copy_scratch"
CHUNK_ROWS = 1000


def max_entry_id(conn) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT coalesce(max(id), 0) FROM {ENTRIES}")
        return cur.fetchone()[0]


def entry_columns(conn) -> list[str]:
    """Every column of the entries table but `id`, in table order."""
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "AND column_name <> 'id' ORDER BY ordinal_position", (ENTRIES,))
        return [row[0] for row in cur.fetchall()]


def chunk_lines(data: bytes, size: int = CHUNK_ROWS) -> list[bytes]:
    """COPY text output split into pieces of `size` rows. A row is one line: COPY's text
    format writes a newline inside a value as the two characters backslash-n."""
    lines = [line + b"\n" for line in data.split(b"\n")[:-1]]  # the data ends with one
    return [b"".join(lines[i:i + size]) for i in range(0, len(lines), size)]


def capture_rows(conn, after_id: int, columns: list[str]) -> list[bytes]:
    """The rows stored with an id above `after_id`, as COPY text in chunks of CHUNK_ROWS."""
    out = io.BytesIO()
    with conn.cursor() as cur:
        cur.copy_expert(f"COPY (SELECT {', '.join(columns)} FROM {ENTRIES} WHERE id > "
                        f"{int(after_id)} ORDER BY id) TO STDOUT", out)
    return chunk_lines(out.getvalue())


def scratch_create(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        cur.execute(f"CREATE TABLE {SCRATCH} (LIKE {ENTRIES} INCLUDING ALL)")


def scratch_rows(conn) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {SCRATCH}")
        return cur.fetchone()[0]


def scratch_drop(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {SCRATCH}")


def _copy_process(connect: Callable, chunks: list[bytes], columns: list[str],
                  start_at: float, queue, release) -> None:
    """One connection: COPY + COMMIT each of its chunks in turn, from `start_at`; then it
    reports and keeps the connection open until `release`, so that the parent can read its
    backend's CPU while the backend still exists."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent cleans up
    conn = connect()
    conn.autocommit = False
    sql = f"COPY {SCRATCH} ({', '.join(columns)}) FROM STDIN"
    latencies, rows, errors = [], 0, []
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    last = time.time()
    with conn.cursor() as cur:
        for chunk in chunks:
            t0 = time.time()
            try:
                cur.copy_expert(sql, io.BytesIO(chunk), size=1 << 20)
                conn.commit()
            except Exception as exc:  # noqa: BLE001 - reported, never hidden
                conn.rollback()
                errors.append(f"{type(exc).__name__}: {exc}"[:120])
                continue
            last = time.time()
            latencies.append((last - t0) * 1000)
            rows += chunk.count(b"\n")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put({"rows": rows, "chunks": len(latencies), "latencies": latencies,
               "errors": errors, "last": last, "cpu_s": usage.ru_utime + usage.ru_stime})
    release.wait(60)
    conn.close()


class CopyRun:
    """COPY `chunks` from `clients` processes (chunk i goes to process i % clients), each on
    its own connection, all starting at `start_at`.

    start() forks them (they connect and wait); results() waits for every process's report
    (rows, per-chunk latencies, errors, the end of its last COMMIT, its own CPU seconds);
    close() lets them close their connections and reaps them.
    """

    def __init__(self, connect: Callable, chunks: list[bytes], columns: list[str],
                 clients: int, start_at: float) -> None:
        ctx = mp.get_context("fork")
        self.queue, self.release = ctx.Queue(), ctx.Event()
        self.procs = [
            ctx.Process(target=_copy_process, daemon=True,
                        args=(connect, chunks[i::clients], columns, start_at, self.queue,
                              self.release))
            for i in range(clients)
        ]

    def start(self) -> CopyRun:
        for p in self.procs:
            p.start()
        return self

    def results(self, timeout: float) -> list[dict]:
        return [self.queue.get(timeout=timeout) for _ in self.procs]

    def close(self) -> None:
        self.release.set()
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
