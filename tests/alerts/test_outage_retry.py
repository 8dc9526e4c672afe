"""The retry policy of the alert tasks (alerts/tasks.py): outages are retried with bounded
exponential backoff, bugs are not, and a signal that outlasts every retry reaches the
critical log. The real outage, with PostgreSQL stopped under a worker, is
tests/faults/test_alerts_outage.py."""

from __future__ import annotations

import json

import pytest
from celery import shared_task
from django.db import IntegrityError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from alerts import tasks

calls: list[int] = []
ERRORS = {"database": OperationalError, "broker": BrokerError, "bug": IntegrityError}


@shared_task(name="tests.alerts.flaky_evaluation", **tasks.EVALUATE_OPTIONS)
def flaky_evaluation(self, *, failures: int, error: str) -> str | None:
    """Fails with ``error`` on its first ``failures`` runs, as a dropped connection does."""
    calls.append(self.request.retries)

    def call() -> str:
        if len(calls) <= failures:
            raise ERRORS[error]("server closed the connection unexpectedly")
        return "evaluated"

    return tasks._evaluate(self, call, {"failures": failures, "error": error})


@pytest.fixture(autouse=True)
def policy(settings):
    calls.clear()
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_TASK_MAX_RETRIES": 4,
                          "ALERT_TASK_RETRY_BASE_SECONDS": 1.0,
                          "ALERT_TASK_RETRY_CAP_SECONDS": 8.0}


def test_the_wait_doubles_from_the_base_and_stops_at_the_cap():
    waits = [tasks.retry_countdown(n) for n in range(6)]
    for wait, expected in zip(waits, [1, 2, 4, 8, 8, 8], strict=True):
        assert expected <= wait <= expected * 1.1  # up to 10% jitter on top


def test_the_default_retries_outlast_a_database_restart_and_then_stop(settings):
    from resilience.conf import DEFAULTS

    settings.FAULTLINE = {**settings.FAULTLINE, **{
        k: DEFAULTS[k] for k in ("ALERT_TASK_MAX_RETRIES", "ALERT_TASK_RETRY_BASE_SECONDS",
                                 "ALERT_TASK_RETRY_CAP_SECONDS")}}
    total = sum(tasks.retry_countdown(n) for n in range(DEFAULTS["ALERT_TASK_MAX_RETRIES"]))
    assert 5 * 60 <= total <= 10 * 60  # minutes of outage covered, yet bounded


def test_evaluation_tasks_are_acknowledged_late_and_requeued_when_the_worker_dies():
    for task in (tasks.alerts_evaluate_digest, tasks.alerts_circuit_opened,
                 tasks.alerts_dead_letter_created, tasks.alerts_fallback_failed,
                 tasks.alerts_operational):
        assert task.acks_late and task.reject_on_worker_lost, task.name
    assert tasks.alert_deliver.acks_late


@pytest.mark.parametrize("error", ["database", "broker"])
def test_an_outage_is_retried_until_the_evaluation_succeeds(error, critical_log):
    result = flaky_evaluation.apply(kwargs={"failures": 3, "error": error})
    assert result.get() == "evaluated"
    assert calls == [0, 1, 2, 3]
    assert not critical_log.exists()


def test_past_the_last_retry_the_signal_and_its_arguments_are_in_the_critical_log(
        critical_log):
    result = flaky_evaluation.apply(kwargs={"failures": 100, "error": "database"})
    assert result.get() is None
    assert calls == [0, 1, 2, 3, 4]  # the first run and ALERT_TASK_MAX_RETRIES retries
    [line] = critical_log.read_text().splitlines()
    record = json.loads(line)
    assert record["kind"] == "evaluation_failed" and record["level"] == "CRITICAL"
    assert record["source"] == "tests.alerts.flaky_evaluation"
    assert record["arguments"] == {"failures": 100, "error": "database"}
    assert "after 5 attempts" in record["title"]
    assert "server closed the connection" in record["message"]


def test_a_bug_is_not_retried(critical_log):
    result = flaky_evaluation.apply(kwargs={"failures": 1, "error": "bug"})
    assert result.failed() and isinstance(result.result, IntegrityError)
    assert calls == [0]
    assert not critical_log.exists()


def test_called_directly_the_outage_reaches_the_caller():
    with pytest.raises(OperationalError):
        flaky_evaluation.run(failures=1, error="database")
