"""Resident memory (RSS) of the processes under test, read from /proc (no psutil).

A sampler thread reads VmRSS of every process in the given process groups (gunicorn's master
and workers, the Celery worker and its pool) at a fixed interval; the pure functions below
turn the samples into a start/end/max summary per process and a per-minute table for the
soak. Standard library only, like _common.py.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from _common import proc_stats


def parse_vm_rss(status: str) -> int | None:
    """VmRSS in KiB from the text of /proc/<pid>/status (None for a kernel thread or a
    zombie, which have no VmRSS line)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected VmRSS unit {unit!r}")
            return int(value)
    return None


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            return parse_vm_rss(f.read())
    except OSError:  # the process has ended
        return None


def process_group(pgid: int) -> list[int]:
    """Pids of the live processes in process group `pgid`, the leader first."""
    pids = [pid for pid, stat in proc_stats()
            if int(stat[stat.rindex(")") + 2:].split()[2]) == pgid]
    return sorted(pids, key=lambda pid: (pid != pgid, pid))


@dataclass(frozen=True)
class Group:
    """A process group to watch: `name` labels its processes, the leader as `leader`
    ("gunicorn master") and the others as `member` ("gunicorn worker 1234")."""

    name: str
    pgid: int
    leader: str
    member: str

    def label(self, pid: int) -> str:
        if pid == self.pgid:
            return f"{self.name} {self.leader}"
        return f"{self.name} {self.member} {pid}"


@dataclass
class Sample:
    at: float  # time.time()
    rss: dict[str, int]  # label -> KiB


@dataclass
class RssSampler:
    """Samples the groups' RSS every `interval` seconds on a thread, from start() to stop()
    (one sample at each end too, so a short scenario still has a start and an end)."""

    groups: list[Group]
    interval: float
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self) -> None:
        rss = {}
        for group in self.groups:
            for pid in process_group(group.pgid):
                kib = rss_kib(pid)
                if kib is not None:
                    rss[group.label(pid)] = kib
        self.samples.append(Sample(time.time(), rss))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join()
        self.sample()
        return self.samples


# --- pure: what the samples say ------------------------------------------------------------


def labels_in_order(samples: list[Sample]) -> list[str]:
    """Every label seen, in the order first seen (a replaced worker appears as a new one)."""
    seen: dict[str, None] = {}
    for s in samples:
        for label in s.rss:
            seen.setdefault(label)
    return list(seen)


def rss_summary(samples: list[Sample]) -> dict[str, dict[str, int]]:
    """label -> {"start", "end", "max"} in KiB: its first, last and largest sample."""
    out: dict[str, dict[str, int]] = {}
    for label in labels_in_order(samples):
        values = [s.rss[label] for s in samples if label in s.rss]
        out[label] = {"start": values[0], "end": values[-1], "max": max(values)}
    return out


def rss_by_minute(samples: list[Sample], t0: float,
                  minutes: int | None = None) -> list[tuple[int, dict[str, int]]]:
    """(minute, label -> KiB) for each minute since t0 that has a sample: the last sample
    taken within that minute (minute 1 is the first 60 s). Samples before t0 are ignored;
    with `minutes`, later ones count in the last minute (the sample taken as the load
    ends belongs to the run, not to a minute of its own)."""
    by_minute: dict[int, Sample] = {}
    for s in samples:
        if s.at < t0:
            continue
        minute = int((s.at - t0) // 60) + 1
        by_minute[min(minute, minutes) if minutes else minute] = s
    return [(minute, by_minute[minute].rss) for minute in sorted(by_minute)]


def growth(rows: list[tuple[int, dict[str, int]]]) -> dict[str, tuple[int, int]]:
    """label -> (KiB at minute 1, KiB at the end) for each process present in both."""
    if not rows:
        return {}
    first, last = rows[0][1], rows[-1][1]
    return {label: (first[label], last[label]) for label in first if label in last}


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def minute_table(rows: list[tuple[int, dict[str, int]]]) -> str:
    """The soak's markdown table: a row per minute, a column per process (RSS in MiB),
    then the growth from minute 1 to the end."""
    labels = labels_in_order([Sample(0.0, rss) for _, rss in rows])
    lines = ["| minute | " + " | ".join(f"{label} MiB" for label in labels) + " |",
             "|---:|" + "---:|" * len(labels)]
    for minute, rss in rows:
        cells = [mib(rss[label]) if label in rss else "" for label in labels]
        lines.append(f"| {minute} | " + " | ".join(cells) + " |")
    grown = growth(rows)
    cells = []
    for label in labels:
        if label in grown:
            start, end = grown[label]
            cells.append(f"{(end - start) / 1024:+.1f} ({(end - start) / start:+.1%})")
        else:
            cells.append("")
    lines.append("| growth, minute 1 to end | " + " | ".join(cells) + " |")
    return "\n".join(lines)
