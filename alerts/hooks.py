"""Where the rest of Faultline tells alerting that something happened.

The receivers of resilience's signals (resilience/signals.py), connected in
alerts/apps.py: resilience announces, alerts listens, so resilience never imports alerts.
Sent after the caller's transaction commits (transaction.on_commit), so an alert never
describes work that was rolled back. Each hook only queues a task on the "alerts" queue:
nothing here routes, renders or sends, so the digest and the request that opened a
circuit pay one broker publish at most.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from resilience import conf

if TYPE_CHECKING:
    from resilience.digest.service import DigestResult

log = logging.getLogger("faultline.alerts")


def digest_payload(result: DigestResult) -> dict[str, Any]:
    """The task's arguments: ids and counts only, at most one row per group (or dead-lettered
    service and operation) in the batch, so bounded by the digest batch size."""
    return {
        "new_groups": sorted(result.new_groups),
        "regressions": sorted(result.regressions),
        "groups": sorted([gid, n, newest] for gid, (n, newest) in result.group_entries.items()),
        "immediate": sorted([gid, eid] for gid, eid in result.immediate_entries.items()),
        "dead_letters": sorted([eid, n] for eid, n in result.dead_letter_entries.values()),
    }


# Evaluating in place when the broker refuses the message: tries before the signal goes to
# the critical log. Bounded (about 3 s of waiting) since it holds up the digest worker.
INLINE_EVALUATION_TRIES = 3


def digest_committed(*, result: DigestResult, **_signal: Any) -> None:
    # Runs as the digest's transaction commits, before digest_batch() fills in `entries`.
    if not result.group_entries or not conf.get("ALERT_ENABLED"):
        return
    from alerts import tasks

    payload = digest_payload(result)
    try:
        tasks.alerts_evaluate_digest.apply_async(kwargs=payload, retry=False)
    except Exception:  # noqa: BLE001 - broker down: evaluate here (it sends nothing)
        log.warning("could not queue alert evaluation; evaluating in the digest worker")
        digest_evaluate_in_place(payload)


def digest_evaluate_in_place(payload: dict[str, Any]) -> None:
    """The broker refused the evaluation: run it here, retrying an outage a few times
    (the database may be down too); if it still fails, the signal goes to the critical log
    with its arguments rather than nowhere."""
    from alerts.services.evaluate import alerts_evaluate_digest
    from alerts.tasks import (
        OUTAGE_ERRORS,
        drop_broken_connections,
        evaluation_lost,
        retry_countdown,
    )

    for attempt in range(1, INLINE_EVALUATION_TRIES + 1):
        try:
            alerts_evaluate_digest(**payload)
            return
        except OUTAGE_ERRORS as exc:
            if attempt == INLINE_EVALUATION_TRIES:
                evaluation_lost(source="alerts.hooks.digest_committed", arguments=payload,
                                error=exc, attempts=attempt)
                return
            drop_broken_connections()
            time.sleep(retry_countdown(attempt - 1))
        except Exception as exc:  # a bug: still leave the signal a trace
            log.exception("alert evaluation failed for a digest batch")
            evaluation_lost(source="alerts.hooks.digest_committed", arguments=payload,
                            error=exc, attempts=attempt)
            return


def circuit_opened(*, operation: str, circuit_id: int | None = None, **_signal: Any) -> None:
    if not conf.get("ALERT_ENABLED"):
        return
    from alerts import tasks

    try:
        tasks.alerts_circuit_opened.apply_async(
            kwargs={"operation": operation, "circuit_id": circuit_id}, retry=False)
    except Exception:  # noqa: BLE001 - on a request path: log, never raise
        log.error("could not queue the alert for circuit %r opening", operation)


def dead_letter_created(*, dead_letter_id: int, **_signal: Any) -> None:
    if not conf.get("ALERT_ENABLED"):
        return
    from alerts import tasks

    try:
        tasks.alerts_dead_letter_created.apply_async(
            kwargs={"dead_letter_id": dead_letter_id}, retry=False)
    except Exception:  # noqa: BLE001 - on a request path: log, never raise
        log.error("could not queue the alert for dead letter %s", dead_letter_id)


def fallback_failed(*, entry_id: int, **_signal: Any) -> None:
    """An entry's FALLBACK decision was reported FAILED (resilience/handling/outcomes.py)."""
    if not conf.get("ALERT_ENABLED"):
        return
    from alerts import tasks

    try:
        tasks.alerts_fallback_failed.apply_async(kwargs={"entry_id": entry_id}, retry=False)
    except Exception:  # noqa: BLE001 - on a request path: log, never raise
        log.error("could not queue the alert for entry %s's failed fallback", entry_id)


def monitor_failed(*, monitor_id: int, service_id: int, slug: str, status: str,
                   environment: str, detail: str, at: str, check_in_id: int,
                   **_signal: Any) -> None:
    """A cron monitor's run failed, was missed or timed out (monitors/services.py)."""
    if not conf.get("ALERT_ENABLED"):
        return
    from alerts import tasks

    kwargs = {"monitor_id": monitor_id, "service_id": service_id, "slug": slug,
              "status": status, "environment": environment, "detail": detail, "at": at,
              "check_in_id": check_in_id}
    try:
        tasks.alerts_monitor_failed.apply_async(kwargs=kwargs, retry=False)
    except Exception:  # noqa: BLE001 - on a request path or the sweep: log, never raise
        log.error("could not queue the alert for monitor %r (%s)", slug, status)


def operational_alert(*, title: str, detail: str, source: str) -> None:
    """For the rest of Faultline (recovery/alerting.py): raise a CRITICAL operational alert.
    Raises when it could not be queued, so the caller knows to rely on its own log line."""
    from alerts import tasks

    tasks.alerts_operational.apply_async(
        kwargs={"title": title, "detail": detail, "source": source}, retry=False)
