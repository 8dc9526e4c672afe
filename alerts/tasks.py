"""Celery entry points for alerting (queue "alerts", see CELERY_TASK_ROUTES). Thin: they
take ids, call a service, and queue a retry when the service asks for one.

No alert is lost to an outage (issue 12): the evaluation tasks are the only place a
signal exists before its Alert row does, so they are acknowledged late, requeued if the
worker dies, and retried on database, cache and broker errors with bounded exponential
backoff (ALERT_TASK_*); the evaluation writes everything in one transaction, so a retry
never doubles an alert or a count. A signal that outlasts every retry is written to the
critical log with its arguments, never dropped in silence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task, shared_task
from celery.exceptions import Reject
from django.db import InterfaceError, OperationalError, connections
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from alerts.critical_log import critical_log_write
from alerts.services import delivery, evaluate
from resilience import conf
from resilience.core.backoff import BackoffPolicy, backoff_delay_ms

log = logging.getLogger("faultline.alerts")
T = TypeVar("T")

# Outages, not bugs: a refused or dropped database connection (a restart, a failover), the
# cache or the broker unreachable. IntegrityError, DataError and the like are not retried.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, BrokerError, RedisConnectionError, RedisTimeoutError,
)

# Evaluation: acknowledged after it ran, and requeued when the worker is killed mid-run
# (nothing else would re-create the signal). Celery's own retry limit is off: ours is
# ALERT_TASK_MAX_RETRIES, checked in run_with_retries().
EVALUATE_OPTIONS: dict[str, Any] = {
    "bind": True, "acks_late": True, "reject_on_worker_lost": True, "max_retries": None,
}


def retry_countdown(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: ALERT_TASK_RETRY_BASE_SECONDS doubling,
    capped at ALERT_TASK_RETRY_CAP_SECONDS, plus up to 10% jitter."""
    policy = BackoffPolicy(base_ms=int(conf.get("ALERT_TASK_RETRY_BASE_SECONDS") * 1000),
                           factor=2.0,
                           cap_ms=int(conf.get("ALERT_TASK_RETRY_CAP_SECONDS") * 1000),
                           jitter=0.1)
    return backoff_delay_ms(policy, retries) / 1000


def evaluation_lost(*, source: str, arguments: dict[str, Any], error: BaseException,
                    attempts: int) -> None:
    """The last resort for a signal no retry could evaluate: a CRITICAL line in the critical
    log (a file, so it needs neither the database nor the broker) with what to replay."""
    critical_log_write({
        "logged_at": timezone.now().isoformat(), "alert_id": None,
        "kind": "evaluation_failed", "level": "CRITICAL",
        "title": f"Alert evaluation failed after {attempts} attempts: {source}",
        "message": f"{type(error).__name__}: {error}"[:2000],
        "reason": "alert evaluation could not reach the database or broker",
        "source": source, "arguments": arguments,
    })


def drop_broken_connections() -> None:
    # A connection that failed mid-query is unusable: drop it so the next try connects
    # afresh (never inside an atomic block: that belongs to the caller).
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.errors_occurred and not conn.in_atomic_block:
            conn.errors_occurred = False
            if not conn.is_usable():
                conn.close()


def run_with_retries(task: Task, call: Callable[[], T], *, arguments: dict[str, Any],
                     on_give_up: Callable[[BaseException, int], None]) -> T | None:
    """Run ``call``; on an outage error queue a retry of ``task`` with backoff. If the broker
    refuses the retry message too, wait in this worker instead. After
    ALERT_TASK_MAX_RETRIES retries ``on_give_up(error, attempts)`` runs and None is returned.
    Called directly (not by a worker) the error propagates."""
    retries = task.request.retries or 0
    while True:
        try:
            return call()
        except OUTAGE_ERRORS as exc:
            if task.request.called_directly:
                raise
            drop_broken_connections()
            if retries >= conf.get("ALERT_TASK_MAX_RETRIES"):
                on_give_up(exc, retries + 1)
                return None
            countdown = retry_countdown(retries)
            log.warning("%s failed (%s: %s); retry %d in %.1f s", task.name,
                        type(exc).__name__, exc, retries + 1, countdown)
            try:
                raise task.retry(exc=exc, countdown=countdown) from exc
            except Reject:  # the broker refused the retry message: keep it in this worker
                time.sleep(countdown)
                retries += 1


def _evaluate(task: Task, call: Callable[[], T], arguments: dict[str, Any]) -> T | None:
    def give_up(error: BaseException, attempts: int) -> None:
        evaluation_lost(source=task.name, arguments=arguments, error=error, attempts=attempts)

    return run_with_retries(task, call, arguments=arguments, on_give_up=give_up)


@shared_task(name="alerts.tasks.alerts_evaluate_digest", **EVALUATE_OPTIONS)
def alerts_evaluate_digest(self: Task, **payload) -> int:
    """Route what one committed digest batch found; queues the deliveries."""
    alerts = _evaluate(self, lambda: evaluate.alerts_evaluate_digest(**payload), payload)
    return len(alerts or ())


@shared_task(name="alerts.tasks.alerts_circuit_opened", **EVALUATE_OPTIONS)
def alerts_circuit_opened(self: Task, *, operation: str,
                          circuit_id: int | None = None) -> int | None:
    alert = _evaluate(self, lambda: evaluate.alerts_evaluate_circuit_open(
        operation=operation, circuit_id=circuit_id),
        {"operation": operation, "circuit_id": circuit_id})
    return alert.pk if alert else None


@shared_task(name="alerts.tasks.alerts_dead_letter_created", **EVALUATE_OPTIONS)
def alerts_dead_letter_created(self: Task, *, dead_letter_id: int) -> int | None:
    alert = _evaluate(self, lambda: evaluate.alerts_evaluate_dead_letter(
        dead_letter_id=dead_letter_id), {"dead_letter_id": dead_letter_id})
    return alert.pk if alert else None


@shared_task(name="alerts.tasks.alerts_fallback_failed", **EVALUATE_OPTIONS)
def alerts_fallback_failed(self: Task, *, entry_id: int) -> int | None:
    alert = _evaluate(self, lambda: evaluate.alerts_evaluate_fallback_failed(
        entry_id=entry_id), {"entry_id": entry_id})
    return alert.pk if alert else None


@shared_task(name="alerts.tasks.alerts_operational", **EVALUATE_OPTIONS)
def alerts_operational(self: Task, *, title: str, detail: str, source: str) -> int | None:
    alert = _evaluate(self, lambda: evaluate.alerts_evaluate_operational(
        title=title, detail=detail, source=source),
        {"title": title, "detail": detail, "source": source})
    return alert.pk if alert else None


@shared_task(name="alerts.tasks.alerts_monitor_failed", **EVALUATE_OPTIONS)
def alerts_monitor_failed(self: Task, **signal: Any) -> int | None:
    """A cron monitor's failed, missed or timed-out run (the monitor_failed signal's
    arguments: plain values, see resilience/signals.py)."""
    alert = _evaluate(self, lambda: evaluate.alerts_evaluate_monitor(**signal), signal)
    return alert.pk if alert else None


# An HTTP send is bounded by ALERT_HTTP_TIMEOUT_SECONDS per socket operation and SMTP by
# EMAIL_TIMEOUT; the time limits are the backstop for a send that hangs anyway. The
# delivery row is already committed, so an outage only delays it: retried like evaluation,
# and past the last retry the sweep (alerts_redeliver_due) still sends it. Not requeued
# on a lost worker: the claim would refuse it until ALERT_CLAIM_TIMEOUT_SECONDS anyway.
@shared_task(name="alerts.tasks.alert_deliver", bind=True, acks_late=True, max_retries=None,
             soft_time_limit=90, time_limit=120)
def alert_deliver(self: Task, *, delivery_id: int) -> str | None:
    def give_up(error: BaseException, attempts: int) -> None:
        log.error("alert delivery %s: %d attempts failed (%r); left PENDING for the sweep",
                  delivery_id, attempts, error)

    outcome = run_with_retries(
        self, lambda: delivery.alert_delivery_send(delivery_id=delivery_id),
        arguments={"delivery_id": delivery_id}, on_give_up=give_up)
    if outcome is None:
        return None
    if outcome.retry_at is not None:
        countdown = max(0.0, (outcome.retry_at - timezone.now()).total_seconds())
        alert_deliver.apply_async(kwargs={"delivery_id": delivery_id}, countdown=countdown)
    return outcome.status


@shared_task(name="alerts.tasks.alerts_check_digest_lag")
def alerts_check_digest_lag() -> int | None:
    alert = evaluate.alerts_check_digest_lag()
    return alert.pk if alert else None


@shared_task(name="alerts.tasks.alerts_redeliver_due")
def alerts_redeliver_due() -> int:
    """The sweep: deliveries whose message was lost; old throttle windows."""
    delivery.alert_throttles_prune()
    return len(delivery.alerts_redeliver_due())
