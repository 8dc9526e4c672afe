"""Digest scheduling: after commit, coalesced, and never lost to a broker outage."""

import json
from types import SimpleNamespace

import pytest
from django.core.cache import cache

from resilience import tasks
from resilience.digest import schedule as schedule
from resilience.models import ErrorGroup, ErrorLogEntry


@pytest.fixture(autouse=True)
def no_local_throttle(monkeypatch):
    monkeypatch.setattr(schedule, "LOCAL_INTERVAL_SECONDS", 0)
    # Publish on the caller's thread, so these tests see the publish at once (the scheduler
    # thread itself: tests/resilience/test_digest_schedule_outage.py).
    monkeypatch.setattr(schedule, "_scheduler",
                        lambda: SimpleNamespace(wake=schedule.digest_schedule_now))


@pytest.fixture
def enqueued(catch_task):
    calls = []
    catch_task(schedule.DIGEST_TASK, lambda kwargs, **options: calls.append(options))
    cache.delete(schedule.SCHEDULED_KEY)
    yield calls
    cache.delete(schedule.SCHEDULED_KEY)


def _post(client, body):
    return client.post("/api/v1/errors/", data=json.dumps(body), content_type="application/json")


def test_a_burst_of_reports_schedules_one_digest_run(
    service_client, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            assert _post(service_client, {"code": "ECONNRESET"}).status_code == 201
    assert len(enqueued) == 1


def test_nothing_is_scheduled_before_the_commit(service_client, enqueued,
                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _post(service_client, {"code": "ECONNRESET"})
    assert enqueued == []
    assert len(callbacks) == 1


def test_a_process_asks_the_shared_cache_at_most_twice_a_second(enqueued, monkeypatch):
    monkeypatch.setattr(schedule, "LOCAL_INTERVAL_SECONDS", 0.5)
    monkeypatch.setattr(schedule, "_last_asked", 0.0)
    schedule.digest_schedule()
    schedule.digest_claimed_schedule_slot()
    schedule.digest_schedule()  # within 0.5 s of the last ask: not even the cache is asked
    assert len(enqueued) == 1


def test_a_starting_run_lets_the_next_commit_schedule_again(enqueued):
    schedule.digest_schedule()
    schedule.digest_schedule()
    schedule.digest_claimed_schedule_slot()
    schedule.digest_schedule()
    assert len(enqueued) == 2


def test_a_broker_outage_leaves_the_entries_for_the_sweep(service_client, catch_task,
                                                          django_capture_on_commit_callbacks):
    def broker_down(kwargs, **options):
        raise ConnectionError("broker unreachable")

    catch_task(schedule.DIGEST_TASK, broker_down)
    cache.delete(schedule.SCHEDULED_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(service_client, {"code": "ECONNRESET"})
    assert response.status_code == 201  # the report is stored all the same
    assert ErrorLogEntry.objects.filter(digested_at=None).count() == 1

    assert tasks.digest_sweep() == 1
    assert ErrorGroup.objects.get().times_seen == 1
    assert not ErrorLogEntry.objects.filter(digested_at=None).exists()


def test_the_digest_task_drains_every_batch(service_client, settings, enqueued):
    settings.FAULTLINE = {**settings.FAULTLINE, "DIGEST_BATCH_SIZE": 3}
    _post(service_client, [{"code": "ECONNRESET"}] * 10)
    assert tasks.digest_pending() == 10
    assert ErrorGroup.objects.get().times_seen == 10


@pytest.fixture
def helpers_asked(catch_task):
    asked = []
    catch_task(schedule.DIGEST_TASK, lambda kwargs, **options: asked.append(kwargs))
    cache.delete(schedule.SCHEDULED_KEY)
    yield asked
    cache.delete(schedule.SCHEDULED_KEY)


def test_a_run_that_finds_a_backlog_asks_for_helpers_once(service_client, settings,
                                                          helpers_asked):
    settings.FAULTLINE = {**settings.FAULTLINE, "DIGEST_BATCH_SIZE": 3,
                          "DIGEST_PARALLEL_RUNS": 3}
    _post(service_client, [{"code": "ECONNRESET"}] * 10)
    helpers_asked.clear()
    assert tasks.digest_pending() == 10
    # After its first full batch only, however many follow.
    assert helpers_asked == [{"helper": True}, {"helper": True}]


def test_a_helper_digests_and_asks_for_nobody(service_client, settings, helpers_asked):
    settings.FAULTLINE = {**settings.FAULTLINE, "DIGEST_BATCH_SIZE": 3}
    _post(service_client, [{"code": "ECONNRESET"}] * 7)
    helpers_asked.clear()
    assert tasks.digest_pending(helper=True) == 7
    assert helpers_asked == []
    assert ErrorGroup.objects.get().times_seen == 7


def test_no_helper_without_a_backlog_or_with_one_run_allowed(service_client, settings,
                                                             helpers_asked):
    settings.FAULTLINE = {**settings.FAULTLINE, "DIGEST_BATCH_SIZE": 3}
    _post(service_client, [{"code": "ECONNRESET"}] * 2)
    helpers_asked.clear()
    assert tasks.digest_sweep() == 2  # a short batch: no backlog
    assert helpers_asked == []
    settings.FAULTLINE = {**settings.FAULTLINE, "DIGEST_PARALLEL_RUNS": 1}
    _post(service_client, [{"code": "ECONNRESET"}] * 5)
    helpers_asked.clear()
    assert tasks.digest_pending() == 5
    assert helpers_asked == []


def test_a_broker_refusing_helpers_leaves_the_run_digesting_alone(service_client, settings,
                                                                  catch_task):
    def broker_down(kwargs, **options):
        raise ConnectionError("broker unreachable")

    settings.FAULTLINE = {**settings.FAULTLINE, "DIGEST_BATCH_SIZE": 3}
    _post(service_client, [{"code": "ECONNRESET"}] * 8)
    catch_task(schedule.DIGEST_TASK, broker_down)
    assert tasks.digest_pending() == 8
    assert ErrorGroup.objects.get().times_seen == 8


def test_the_sweep_is_on_the_beat_schedule(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Digest sweep")
    assert task.task == "resilience.tasks.digest_sweep"
    assert task.enabled and task.interval.every <= 30


def test_stuck_replays_are_reclaimed_on_the_beat_schedule(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Dead-letter reclaim")
    assert task.task == "resilience.tasks.dead_letter_reclaim_stuck"
    assert task.queue == "replay" and task.enabled
