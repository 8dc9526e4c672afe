"""The soak of bench/ingest.py (`--soak SECONDS`): a real Celery worker digests meanwhile.

The worker runs as scripts/run.sh starts it (every queue, one pool process) with the
server's settings and broker, so each commit's digest message is consumed and digested as
in production; there is no beat, so the wake-up the worker queues on connecting and the
after-commit messages are what drive digestion.
"""

from __future__ import annotations

import time
from pathlib import Path

from _common import Process

QUEUES = "digest,alerts,replay,maintenance"


def start_worker(bin_dir: Path, root: Path, env: dict[str, str], workdir: Path,
                 name: str) -> Process:
    cmd = [str(bin_dir / "celery"), "-A", "config", "worker", "--loglevel", "INFO",
           "--concurrency", "1", "--queues", QUEUES, "--without-gossip", "--without-mingle",
           "--hostname", f"{name}@%h"]
    return Process("celery", cmd, env, 0, workdir, cwd=root)


def wait_worker_ready(worker: Process, timeout: float = 60.0) -> None:
    """Until the worker logs "ready." (it then consumes its queues)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"the Celery worker exited with {worker.proc.returncode}; see "
                               f"{worker.log_path}")
        if " ready." in worker.log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the Celery worker was not ready within {timeout} s; see "
                       f"{worker.log_path}")


def backlog(conn) -> tuple[int, int]:
    """(entries not digested yet, of which quarantined) in the bench database."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(*) FILTER (WHERE quarantined_at IS NOT NULL) "
                    "FROM resilience_errorlogentry WHERE digested_at IS NULL")
        return cur.fetchone()


def wait_digested(conn, timeout: float) -> tuple[float, int]:
    """Wait up to `timeout` s for every entry that can be digested to be; returns (seconds
    waited, entries still undigested and not quarantined)."""
    t0 = time.monotonic()
    while True:
        pending, quarantined = backlog(conn)
        left = pending - quarantined
        waited = time.monotonic() - t0
        if left == 0 or waited >= timeout:
            return waited, left
        time.sleep(1.0)


def stalls(worst_ms_by_second: list[float], timeline: list[tuple[float, dict[str, float]]],
           start_at: float, *, over_ms: float = 250.0, top: int = 5,
           around_s: float = 2.0) -> dict:
    """The seconds whose requests were answered more than `over_ms` after their scheduled
    time, and for the `top` worst of them, the cores each part and command used from
    `around_s` before to `around_s` after (a stall shows what ran while it built up)."""
    late = [(s, ms) for s, ms in enumerate(worst_ms_by_second) if ms > over_ms]
    worst = sorted(late, key=lambda item: -item[1])[:top]
    out = []
    for second, ms in sorted(worst):
        t0, t1 = start_at + second - around_s, start_at + second + 1 + around_s
        # a tick at time t holds the CPU of the second before it
        ticks = [tick for t, tick in timeline if t0 < t <= t1]
        used: dict[str, float] = {}
        for tick in ticks:
            for label, seconds in tick.items():
                used[label] = used.get(label, 0.0) + seconds
        span = max(len(ticks), 1)  # one tick per polled second
        cores = {label: round(v / span, 2) for label, v in
                 sorted(used.items(), key=lambda kv: -kv[1]) if v / span >= 0.03}
        out.append({"second": second, "worst_ms": ms, "cores": cores})
    return {"seconds_over": len(late), "over_ms": over_ms, "worst": out}


def stall_lines(report: dict) -> list[str]:
    lines = [f"seconds with a request answered over {report['over_ms']:g} ms after its "
             f"scheduled time: {report['seconds_over']}"]
    for stall in report["worst"]:
        cores = ", ".join(f"{label} {v:.2f}" for label, v in stall["cores"].items())
        lines.append(f"  +{stall['second']} s: worst {stall['worst_ms']:,.0f} ms; cores "
                     f"around it: {cores}")
    return lines
