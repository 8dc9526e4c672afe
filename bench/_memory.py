"""Resident memory (RSS) of the processes under test, read from /proc (no psutil).

A sampler thread reads VmRSS of every process in the given process groups (gunicorn's master
and its workers) at a fixed interval; the pure functions below turn the samples into a
start/end/max summary per process. Standard library only, like _common.py.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field


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
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[2]) == pgid:
            pids.append(int(name))
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


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"
