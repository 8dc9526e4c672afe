"""The spool (resilience/ingest/spool/): fsync'd appends, a bound, order, an idempotent drain, and
a crash mid-append that loses nothing that was answered."""

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from resilience.core.classification import classify
from resilience.core.report_schema import classification_input
from resilience.core.strategy import CLOSED_CIRCUIT
from resilience.ingest import spool
from resilience.ingest.service import backoff_policy, build_entry
from resilience.ingest.spool.segments import (
    SegmentWriter,
    SpoolFull,
    claimed,
    read_segment,
    segment_paths,
    spool_stats,
)
from resilience.models import ErrorLogEntry


@pytest.fixture
def spool_dir(tmp_path, settings):
    directory = tmp_path / "spool"
    settings.FAULTLINE = {**settings.FAULTLINE, "SPOOL_DIR": str(directory),
                          "SPOOL_MAX_BYTES": 10 * 1024 * 1024}
    yield directory
    # The process's writer holds its segment open: let go of it for the next test.
    spool.spool_rotate()


def _entry(service, event_id: str, message: str = "boom") -> ErrorLogEntry:
    report = {"event_id": event_id, "code": "ECONNREFUSED", "message": message,
              "operation": "db.query"}
    return build_entry(
        report, service_id=service.pk, source="api", now=timezone.now(),
        policy=backoff_policy(), max_attempts=3,
        classification=classify(classification_input(report), {}), circuit=CLOSED_CIRCUIT,
    )


# --- the files (no database) ------------------------------------------------------------

def test_every_append_is_fsynced_before_it_returns(tmp_path, monkeypatch):
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        real_fsync(fd)
        synced.append(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    writer = SegmentWriter(tmp_path, max_bytes=1 << 20)
    writer.append([{"n": 1}], now=1.0)
    after_first = len(synced)
    writer.append([{"n": 2}], now=2.0)
    assert after_first >= 1
    assert len(synced) == after_first + 1  # one fsync per append, data on disk
    rows, bad = read_segment(segment_paths(tmp_path)[0])
    assert rows == [{"n": 1}, {"n": 2}] and bad == 0


def test_a_full_spool_refuses_and_writes_nothing(tmp_path):
    writer = SegmentWriter(tmp_path, max_bytes=200)
    writer.append([{"message": "x" * 50}], now=1.0)
    before = spool_stats(tmp_path).bytes
    with pytest.raises(SpoolFull):
        writer.append([{"message": "y" * 200}], now=2.0)
    assert spool_stats(tmp_path).bytes == before


def test_the_bound_counts_every_process_segments(tmp_path):
    SegmentWriter(tmp_path, max_bytes=1000).append([{"m": "a" * 400}], now=1.0)
    other = SegmentWriter(tmp_path, max_bytes=1000)
    other.append([{"m": "b" * 400}], now=2.0)
    with pytest.raises(SpoolFull):
        other.append([{"m": "c" * 400}], now=3.0)


def test_a_partial_last_line_from_a_killed_process_is_skipped(tmp_path):
    writer = SegmentWriter(tmp_path, max_bytes=1 << 20)
    writer.append([{"n": 1}, {"n": 2}], now=1.0)
    path = segment_paths(tmp_path)[0]
    with open(path, "ab") as f:
        f.write(b'{"at":3.0,"row":{"n":')  # killed before the newline: never answered
    assert read_segment(path) == ([{"n": 1}, {"n": 2}], 1)


def test_the_open_segment_is_locked_until_rotated(tmp_path):
    writer = SegmentWriter(tmp_path, max_bytes=1 << 20)
    writer.append([{"n": 1}], now=1.0)
    path = segment_paths(tmp_path)[0]
    with claimed(path) as ours:
        assert not ours
    writer.rotate()
    with claimed(path) as ours:
        assert ours


def test_a_segment_another_process_is_draining_is_left_alone(tmp_path):
    writer = SegmentWriter(tmp_path, max_bytes=1 << 20)
    writer.append([{"n": 1}], now=1.0)
    writer.rotate()
    path = segment_paths(tmp_path)[0]
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(path)!r}, os.O_RDWR)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with claimed(path) as ours:
            assert not ours
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    with claimed(path) as ours:  # the holder died: its lock died with it
        assert ours


def test_the_age_is_the_oldest_entry(tmp_path):
    writer = SegmentWriter(tmp_path, max_bytes=1 << 20)
    now = time.time()
    writer.append([{"n": 1}], now=now - 30)
    writer.append([{"n": 2}], now=now)
    assert 29 <= spool_stats(tmp_path).age_seconds(now) <= 31
    assert spool_stats(tmp_path / "none").age_seconds(now) == 0.0


def test_a_lock_survives_only_its_open_file(tmp_path):
    # The drain claims with flock on its own descriptor: the same process's writer, which
    # holds another descriptor on the file, still counts as someone else.
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with claimed(path) as ours:
            assert not ours
    finally:
        os.close(fd)


# --- spooling entries and draining them into the database --------------------------------

def test_drain_writes_spooled_entries_in_order(db, service, spool_dir):
    entries = [_entry(service, f"ordered-{n}", message=f"m{n}") for n in range(5)]
    spool.spool_entries(entries=entries[:2])
    spool.spool_entries(entries=entries[2:])
    assert ErrorLogEntry.objects.count() == 0
    assert spool.spool_drain() == 5
    stored = list(ErrorLogEntry.objects.order_by("id").values_list("event_id", "message"))
    assert stored == [(f"ordered-{n}", f"m{n}") for n in range(5)]
    assert segment_paths(spool_dir) == []
    assert spool.spool_status().bytes == 0


def test_a_spooled_entry_keeps_every_field(db, service, spool_dir):
    entry = _entry(service, "every-field")
    entry.context = {"k": [1, 2, {"x": None}]}
    entry.payload = {"amount": 12.5}
    spool.spool_entries(entries=[entry])
    spool.spool_drain()
    stored = ErrorLogEntry.objects.get(event_id="every-field")
    for field in ("category", "severity", "strategy", "retry_after_ms", "classification",
                  "code", "message", "operation", "context", "payload", "received_at",
                  "timestamp", "source"):
        assert getattr(stored, field) == getattr(entry, field), field


def test_draining_twice_stores_each_event_once(db, service, spool_dir, tmp_path):
    spool.spool_entries(entries=[_entry(service, "once-1"), _entry(service, "once-2")])
    spool.spool_rotate()
    copy = tmp_path / "copy"
    shutil.copy(segment_paths(spool_dir)[0], copy)
    spool.spool_drain()
    # A drain that died after its commit but before removing the segment does it again.
    shutil.copy(copy, spool_dir / copy.name.replace("copy", "0-crashed-000001.jsonl"))
    assert len(segment_paths(spool_dir)) == 1
    spool.spool_drain()
    assert sorted(ErrorLogEntry.objects.values_list("event_id", flat=True)) == [
        "once-1", "once-2"]


def test_a_resend_stored_before_the_drain_is_not_stored_again(db, service, spool_dir):
    spool.spool_entries(entries=[_entry(service, "resent")])
    from resilience.ingest.entry_writer import write_now

    write_now([_entry(service, "resent")])
    spool.spool_drain()
    assert ErrorLogEntry.objects.filter(event_id="resent").count() == 1


def test_a_row_the_database_refuses_is_kept_aside_and_the_rest_stored(
    transactional_db, service, spool_dir
):
    # Transactional: the foreign key is checked at commit, as in a real drain.
    good, bad = _entry(service, "good"), _entry(service, "bad")
    bad.service_id = 10**9  # its service was deleted meanwhile: a foreign key violation
    spool.spool_entries(entries=[good, bad])
    spool.spool_drain()
    assert list(ErrorLogEntry.objects.values_list("event_id", flat=True)) == ["good"]
    refused = list(Path(spool_dir).glob("*.refused"))
    assert len(refused) == 1 and '"bad"' in refused[0].read_text()


def test_a_segment_left_by_a_dead_process_is_drained(db, service, spool_dir):
    # Another process spooled and died (its lock died with it); this one drains it.
    code = (
        "import django, os, sys\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings.test'\n"
        "django.setup()\n"
        "from resilience.ingest.spool.segments import SegmentWriter\n"
        "from pathlib import Path\n"
        "import json\n"
        f"SegmentWriter(Path({str(spool_dir)!r}), max_bytes=1 << 20).append("
        "json.loads(sys.stdin.read()), now=1.0)\n"
        "os._exit(0)\n"
    )
    import json

    from resilience.ingest.spool.rows import entry_to_row

    rows = [entry_to_row(_entry(service, "orphan"))]
    subprocess.run([sys.executable, "-c", code], input=json.dumps(rows), text=True,
                   check=True, cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert len(segment_paths(spool_dir)) == 1
    assert spool.spool_drain() == 1
    assert ErrorLogEntry.objects.filter(event_id="orphan").exists()


def test_an_unwritable_spool_refuses_rather_than_failing(db, service, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.FAULTLINE = {**settings.FAULTLINE, "SPOOL_DIR": str(blocker / "spool")}
    with pytest.raises(SpoolFull, match="cannot be written"):
        spool.spool_entries(entries=[_entry(service, "nowhere")])
