"""The request path never waits on the broker (issue 12): scheduling a digest run only wakes
this process's scheduler thread, which does the publishing. The broker is really stopped
in tests/faults/test_broker_outage.py; here a publish that hangs shows the decoupling
deterministically."""

import json
import threading
import time

import pytest
from django.core.cache import cache

from resilience.digest import schedule as schedule
from resilience.models import ErrorLogEntry


@pytest.fixture
def hung_broker(monkeypatch, catch_task):
    """A publish blocks until released, as one to an unreachable broker did."""
    release = threading.Event()
    calls = []

    def publish(kwargs, **options):
        calls.append(options)
        release.wait(timeout=30)

    catch_task(schedule.DIGEST_TASK, publish)
    monkeypatch.setattr(schedule, "LOCAL_INTERVAL_SECONDS", 0)
    monkeypatch.setattr(schedule, "_current", None)  # a scheduler thread of this test's own
    cache.delete(schedule.SCHEDULED_KEY)
    try:
        yield calls, release
    finally:
        # Wake-ups left for this test's thread would ask again, in the next test's time.
        if schedule._current is not None:
            schedule._current.wanted.clear()
        release.set()
        cache.delete(schedule.SCHEDULED_KEY)


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_scheduling_returns_while_the_publish_hangs(hung_broker):
    calls, release = hung_broker
    schedule.digest_schedule()
    _wait(lambda: len(calls) == 1, "the scheduler thread to start publishing")
    for _ in range(100):
        schedule.digest_schedule()  # every commit after the first: none waits
    assert not release.is_set()  # the publish is still hanging, the callers are not
    assert len(calls) == 1


def test_wake_ups_during_a_hung_publish_coalesce(hung_broker):
    calls, release = hung_broker
    schedule.digest_schedule()
    _wait(lambda: len(calls) == 1, "the first publish")
    for _ in range(50):
        schedule.digest_schedule()
    release.set()
    # The 50 wake-ups are one more ask, which finds the run already queued (the cache key).
    _wait(lambda: not schedule._current.wanted.is_set(), "the coalesced ask")
    time.sleep(0.2)
    assert len(calls) == 1


def test_the_scheduler_thread_survives_a_failed_publish(monkeypatch, catch_task):
    calls = []

    def broker_refuses(kwargs, **options):
        calls.append(options)
        raise ConnectionError("broker unreachable")

    catch_task(schedule.DIGEST_TASK, broker_refuses)
    monkeypatch.setattr(schedule, "LOCAL_INTERVAL_SECONDS", 0)
    monkeypatch.setattr(schedule, "FAILURE_PAUSE_SECONDS", 0)
    monkeypatch.setattr(schedule, "_current", None)
    cache.delete(schedule.SCHEDULED_KEY)
    schedule.digest_schedule()
    _wait(lambda: len(calls) == 1, "the first publish")
    schedule.digest_schedule()
    _wait(lambda: len(calls) == 2, "the publish after a failure")  # the key was given back
    assert schedule._current.thread.is_alive()
    cache.delete(schedule.SCHEDULED_KEY)


def test_a_report_is_answered_while_the_publish_hangs(postgres, service_client, hung_broker,
                                                     django_capture_on_commit_callbacks):
    calls, release = hung_broker
    with django_capture_on_commit_callbacks(execute=True):
        response = service_client.post("/api/v1/errors/", data=json.dumps(
            {"code": "ECONNRESET"}), content_type="application/json")
    assert response.status_code == 201
    assert ErrorLogEntry.objects.filter(digested_at=None).count() == 1
    _wait(lambda: len(calls) == 1, "the publish, off the request's thread")
    assert not release.is_set()
