"""Pacing: at most `rate` calls a second to one destination, whoever asks, in however many
threads or processes (through the shared cache)."""

import itertools
import multiprocessing
import os
import threading
import time

import pytest

from resilience.outbound import pacing


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def unique_key(name: str) -> str:
    return f"test-{name}-{os.getpid()}-{time.time_ns()}"


def test_callers_get_consecutive_slots_of_one_over_the_rate():
    clock = FakeClock(1000.05)
    key = unique_key("slots")
    starts = [pacing.acquire(key, 5, clock=clock, sleep=lambda s: None) for _ in range(4)]
    assert starts == pytest.approx([1000.2, 1000.4, 1000.6, 1000.8])


def test_a_caller_sleeps_until_its_slot_begins():
    clock = FakeClock(500.0)
    pacing.acquire(unique_key("sleep"), 2, clock=clock, sleep=clock.sleep)
    assert clock.slept == pytest.approx([0.5])


def test_no_slot_within_the_wait_raises():
    clock = FakeClock(10.0)
    key = unique_key("full")
    pacing.acquire(key, 1, clock=clock, sleep=lambda s: None, max_wait=1.5)
    with pytest.raises(pacing.PacingTimeout):
        pacing.acquire(key, 1, clock=clock, sleep=lambda s: None, max_wait=1.5)


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        pacing.acquire("k", 0)


def test_concurrent_callers_never_share_a_slot():
    key = unique_key("threads")
    starts: list[float] = []
    lock = threading.Lock()

    def call():
        start = pacing.acquire(key, 50)
        with lock:
            starts.append(start)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(starts)) == 10
    ordered = sorted(starts)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert min(gaps) == pytest.approx(0.02, abs=1e-6)


def _acquire_in_process(redis_url: str, key: str, count: int, out) -> None:
    from django_redis.cache import RedisCache

    shared = RedisCache(redis_url, {"OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1}})
    for _ in range(count):
        out.put(pacing.acquire(key, 20, cache=shared))


def test_the_rate_holds_across_processes_through_redis(redis_url):
    key = unique_key("processes")
    out = multiprocessing.get_context("fork").Queue()
    workers = [
        multiprocessing.get_context("fork").Process(
            target=_acquire_in_process, args=(redis_url, key, 4, out)
        )
        for _ in range(3)
    ]
    for w in workers:
        w.start()
    starts = sorted(out.get(timeout=10) for _ in range(12))
    for w in workers:
        w.join(timeout=5)
    assert len(set(starts)) == 12  # three processes, twelve distinct slots
    assert starts[-1] - starts[0] == pytest.approx(11 / 20, abs=1e-6)

