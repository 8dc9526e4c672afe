"""The spool's files: append-only segments of JSON lines, fsync'd, bounded, claimed by flock.

Pure: standard library only. Each process appends to its own segment and holds an exclusive
flock on it while it is open, so a drainer (in any process) can only claim a segment nobody
is writing: one that was rotated, or one left by a dead process (the kernel drops a dead
process's locks). Names sort in creation order, so draining by name keeps the order.
"""

import contextlib
import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUFFIX = ".jsonl"
# A segment is rotated past this size, so a drain never has to read a huge file at once.
SEGMENT_BYTES = 4 * 1024 * 1024


class SpoolFull(Exception):
    """The spool has no room for these entries: the caller must refuse, not drop."""


@dataclass(frozen=True)
class SpoolStats:
    bytes: int
    segments: int
    oldest_at: float | None  # epoch seconds of the oldest spooled entry

    def age_seconds(self, now: float) -> float:
        return max(now - self.oldest_at, 0.0) if self.oldest_at is not None else 0.0


def segment_paths(directory: Path) -> list[Path]:
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX))
    except FileNotFoundError:
        return []
    return [directory / n for n in names]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # drained and removed meanwhile
        return 0


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentWriter:
    """This process's appender. Thread-safe; every append is fsync'd before it returns."""

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int = SEGMENT_BYTES):
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._seq = 0

    def append(self, records: list[dict[str, Any]], *, now: float) -> None:
        data = b"".join(
            json.dumps({"at": now, "row": r}, separators=(",", ":")).encode() + b"\n"
            for r in records
        )
        with self._lock:
            used = sum(_size(p) for p in segment_paths(self.directory))
            if used + len(data) > self.max_bytes:
                raise SpoolFull(f"spool {self.directory} holds {used} of {self.max_bytes} bytes")
            if self._fd is None or self._size >= self.segment_bytes:
                self._open()
            assert self._fd is not None
            try:
                written = 0
                while written < len(data):
                    written += os.write(self._fd, data[written:])
                os.fsync(self._fd)
            except OSError:
                # No half line may stay behind for the next append to follow.
                os.ftruncate(self._fd, self._size)
                raise
            self._size += len(data)

    def rotate(self) -> None:
        """Close the open segment (releasing its lock) so a drainer may claim it."""
        with self._lock:
            self._close()

    def _open(self) -> None:
        self._close()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        path = self.directory / f"{time.time_ns():020d}-{self._tag}-{self._seq:06d}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _fsync_dir(self.directory)  # the new name survives a crash too
        self._fd, self._path, self._size = fd, path, 0

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._path, self._size = None, None, 0


@contextlib.contextmanager
def claimed(path: Path) -> Iterator[bool]:
    """Hold an exclusive, non-blocking flock on `path`: True when it is ours to drain."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        # Drained and removed by another process between our listing and our lock.
        yield path.exists()
    finally:
        os.close(fd)


def read_segment(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The rows of a segment in order, and how many lines were unreadable.

    A process killed mid-append leaves at most a partial last line (no newline): it was
    never answered, so it is skipped. Appends are truncated back on error, so a bad line
    elsewhere means damage from outside; it is counted and skipped, not fatal."""
    rows: list[dict[str, Any]] = []
    bad = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                bad += 1
                continue
            try:
                rows.append(json.loads(line)["row"])
            except (ValueError, KeyError, TypeError):
                bad += 1
    return rows, bad


def first_entry_at(path: Path) -> float | None:
    try:
        with open(path, "rb") as f:
            line = f.readline()
        return float(json.loads(line)["at"]) if line.endswith(b"\n") else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def spool_stats(directory: Path) -> SpoolStats:
    paths = segment_paths(directory)
    sizes = [_size(p) for p in paths]
    oldest = None
    for path, size in zip(paths, sizes, strict=True):
        if size:
            oldest = first_entry_at(path)
            if oldest is not None:
                break
    return SpoolStats(bytes=sum(sizes), segments=sum(1 for s in sizes if s), oldest_at=oldest)
