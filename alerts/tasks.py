"""Celery entry points for alerting (queue "alerts", see CELERY_TASK_ROUTES). Thin: they
take ids, call a service, and queue a retry when the service asks for one."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from alerts.services import delivery, evaluate


@shared_task(name="alerts.tasks.alerts_evaluate_digest")
def alerts_evaluate_digest(**payload) -> int:
    """Route what one committed digest batch found; queues the deliveries."""
    return len(evaluate.alerts_evaluate_digest(**payload))


@shared_task(name="alerts.tasks.alerts_circuit_opened")
def alerts_circuit_opened(*, operation: str, circuit_id: int | None = None) -> int | None:
    alert = evaluate.alerts_evaluate_circuit_open(operation=operation, circuit_id=circuit_id)
    return alert.pk if alert else None


@shared_task(name="alerts.tasks.alerts_dead_letter_created")
def alerts_dead_letter_created(*, dead_letter_id: int) -> int | None:
    alert = evaluate.alerts_evaluate_dead_letter(dead_letter_id=dead_letter_id)
    return alert.pk if alert else None


@shared_task(name="alerts.tasks.alerts_fallback_failed")
def alerts_fallback_failed(*, entry_id: int) -> int | None:
    alert = evaluate.alerts_evaluate_fallback_failed(entry_id=entry_id)
    return alert.pk if alert else None


@shared_task(name="alerts.tasks.alerts_operational")
def alerts_operational(*, title: str, detail: str, source: str) -> int | None:
    alert = evaluate.alerts_evaluate_operational(title=title, detail=detail, source=source)
    return alert.pk if alert else None


# An HTTP send is bounded by ALERT_HTTP_TIMEOUT_SECONDS per socket operation and SMTP by
# EMAIL_TIMEOUT; the time limits are the backstop for a send that hangs anyway.
@shared_task(name="alerts.tasks.alert_deliver", soft_time_limit=90, time_limit=120)
def alert_deliver(*, delivery_id: int) -> str | None:
    outcome = delivery.alert_delivery_send(delivery_id=delivery_id)
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
