"""The pure helpers of bench/ingest.py: RSS from /proc, the per-minute table, the ratios to
the ceilings, the COPY chunks. The benchmark itself is run by hand, never here."""

import os
import time

from bench._copy import chunk_lines
from bench._memory import (
    Group,
    RssSampler,
    Sample,
    minute_table,
    parse_vm_rss,
    process_group,
    rss_by_minute,
    rss_summary,
)
from bench._ratios import median_ratios, ratio_line, ratio_table, ratios, share_of_ceiling

STATUS = """Name:\tgunicorn
State:\tS (sleeping)
Pid:\t4121
VmPeak:\t  412300 kB
VmRSS:\t   96256 kB
RssAnon:\t   80000 kB
Threads:\t11
"""


def test_vm_rss_is_read_in_kib_and_absent_for_kernel_threads():
    assert parse_vm_rss(STATUS) == 96256
    assert parse_vm_rss("Name:\tkthreadd\nState:\tS (sleeping)\nPid:\t2\n") is None


def test_the_sampler_finds_this_process_in_its_own_group():
    me, group = os.getpid(), os.getpgrp()
    assert me in process_group(group)
    samples = RssSampler([Group("tests", group, "leader", "member")], interval=60).start().stop()
    label = "tests leader" if me == group else f"tests member {me}"
    assert len(samples) == 2  # one at each end, however short
    assert all(s.rss[label] > 1024 for s in samples)


def test_summary_gives_start_end_and_max_per_process_including_a_late_one():
    samples = [Sample(0, {"master": 100}), Sample(1, {"master": 120, "worker 7": 50}),
               Sample(2, {"master": 110, "worker 7": 40})]
    assert rss_summary(samples) == {"master": {"start": 100, "end": 110, "max": 120},
                                    "worker 7": {"start": 50, "end": 40, "max": 50}}


def test_minutes_take_their_last_sample_and_the_final_one_joins_the_last_minute():
    t0 = 1000.0
    samples = [Sample(t0 - 5, {"w": 1}), Sample(t0 + 10, {"w": 2}), Sample(t0 + 50, {"w": 3}),
               Sample(t0 + 110, {"w": 4}), Sample(t0 + 120.4, {"w": 5})]
    assert rss_by_minute(samples, t0) == [(1, {"w": 3}), (2, {"w": 4}), (3, {"w": 5})]
    assert rss_by_minute(samples, t0, minutes=2) == [(1, {"w": 3}), (2, {"w": 5})]


def test_minute_table_shows_mib_and_the_growth_from_minute_1():
    table = minute_table([(1, {"w": 10240}), (2, {"w": 11264})]).splitlines()
    assert table[0] == "| minute | w MiB |"
    assert table[2:] == ["| 1 | 10.0 |", "| 2 | 11.0 |",
                         "| growth, minute 1 to end | +1.0 (+10.0%) |"]


def _result(name, **figures):
    return {"scenario": name, **figures}


def test_ratios_compare_each_figure_with_its_ceiling_from_the_same_run():
    results = [
        _result("noop-c32", req_per_s=1000.0, events_per_s=1000.0, server_cpu_ms_per_event=0.9),
        _result("single-c32", req_per_s=450.0, events_per_s=450.0, server_cpu_ms_per_event=2.7),
        _result("batch1000-c4", req_per_s=4.0, events_per_s=3800.0),
        _result("copy-c4", req_per_s=5.0, events_per_s=5000.0),
    ]
    rows = {(r["figure"], r["ceiling"], r["field"]): r for r in ratios(results)}
    # single-c1 and envelope-c32 did not run: no ratio for them.
    assert set(rows) == {("single-c32", "noop-c32", "req_per_s"),
                         ("single-c32", "noop-c32", "server_cpu_ms_per_event"),
                         ("batch1000-c4", "copy-c4", "events_per_s")}
    single = rows["single-c32", "noop-c32", "req_per_s"]
    assert (single["ratio"], single["met"]) == (0.45, True)
    batch = rows["batch1000-c4", "copy-c4", "events_per_s"]
    assert (batch["ratio"], batch["met"]) == (0.76, True)
    cpu = rows["single-c32", "noop-c32", "server_cpu_ms_per_event"]
    assert cpu["met"] is None and round(cpu["ratio"], 6) == 3.0
    assert ratio_line(single) == ("single-c32 / noop-c32: 450 / 1,000 req/s = 45% "
                                  "(aim >= 40%: met)")
    assert ratio_line(cpu).endswith("= 3.0x (per event / per do-nothing request)")
    assert share_of_ceiling(results[1], list(rows.values())) == "45% of noop-c32"
    assert share_of_ceiling(results[0], list(rows.values())) == ""


def test_a_missed_aim_says_so():
    results = [_result("envelope-c32", events_per_s=300.0),
               _result("single-c32", events_per_s=450.0)]
    (row,) = ratios(results)
    assert row["met"] is False
    assert ratio_line(row) == ("envelope-c32 / single-c32: 300 / 450 events/s = 67% "
                               "(aim >= 90%: missed)")


def test_over_rounds_each_ratio_is_judged_by_the_median_of_its_rounds():
    def round_of(noop: float, single: float) -> list[dict]:
        return [_result("noop-c32", req_per_s=noop, events_per_s=noop),
                _result("single-c32", req_per_s=single, events_per_s=single)]

    # One round lands above the aim, two below: the median (38%) decides, not the best.
    rounds = [round_of(1000.0, 420.0), round_of(1100.0, 418.0), round_of(900.0, 315.0)]
    (row,) = median_ratios(rounds)
    assert row["rounds"] == [0.42, 0.38, 0.35]
    assert (row["ratio"], row["met"]) == (0.38, False)
    assert (row["value"], row["reference"]) == (418.0, 1000.0)
    assert ratio_line(row) == ("single-c32 / noop-c32: median of 3 rounds 38% (42%, 38%, 35%) "
                               "(aim >= 40%: missed)")
    assert "| 38% (42%, 38%, 35%) | aim >= 40%: missed |" in ratio_table([row])
    # A ratio whose scenarios ran in only some rounds takes the median of those.
    rounds[0].append(_result("envelope5k-c32", events_per_s=400.0))
    envelope = [r for r in median_ratios(rounds) if r["figure"] == "envelope5k-c32"]
    assert [r["rounds"] for r in envelope] == [[400.0 / 420.0]]


def test_copy_chunks_hold_whole_rows():
    rows = [b"%d\tline one\\nline two\tx" % i for i in range(2500)]
    chunks = chunk_lines(b"\n".join(rows) + b"\n")
    assert [c.count(b"\n") for c in chunks] == [1000, 1000, 500]
    assert b"".join(chunks).split(b"\n")[:-1] == rows
    assert chunk_lines(b"") == []


def test_stalls_name_the_worst_late_seconds_and_what_ran_around_them():
    from _soak import stall_lines, stalls

    start = 1000.0
    worst = [10.0] * 10
    worst[3], worst[7] = 900.0, 400.0
    # one tick per second: the server busy throughout, autovacuum only around second 3
    timeline = [(start + s + 1, {"server": 0.5, **({"autovacuum": 0.8} if s in (2, 3, 4)
                                                   else {})}) for s in range(10)]
    report = stalls(worst, timeline, start, over_ms=250, top=1, around_s=1)
    assert report["seconds_over"] == 2
    (stall,) = report["worst"]
    assert stall["second"] == 3 and stall["worst_ms"] == 900.0
    assert stall["cores"] == {"autovacuum": 0.8, "server": 0.5}
    assert "+3 s: worst 900 ms" in stall_lines(report)[1]


def test_the_cpu_watch_keeps_a_timeline_by_part_and_command():
    from _common import CpuWatch

    watch = CpuWatch("no-such-db", {"server": os.getpgrp()}, interval=0.05).start()
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    watch.stop()
    assert watch.timeline, "a tick per poll"
    assert sum(tick.get("server", 0.0) for _, tick in watch.timeline) > 0.1
    assert watch.by_label()["server"] > 0.1


def test_context_switches_count_a_thread_handing_the_cpu_on():
    import threading

    from _common import context_switches

    before = context_switches()
    for _ in range(20):  # each join puts this thread to sleep until the other one ends
        t = threading.Thread(target=time.sleep, args=(0.001,))
        t.start()
        t.join()
    assert context_switches() - before >= 20
