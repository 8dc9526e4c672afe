"""Sending a delivery, recording every attempt, retrying, and settling the alert.

The order is healthchecks': the AlertDelivery row exists before the first attempt, each
attempt's AlertAttempt row is written before the send and finished after it, so a worker
that dies mid-send still leaves a trace (and the claim expires, so the sweep sends again:
delivery is at least once; receivers may deduplicate on ``alert_id``).

Retries: connection errors, timeouts, 5xx (and 408/425/429) are retried with
resilience.core.backoff up to ALERT_MAX_ATTEMPTS; other 4xx and SMTP 5xx are not. A Slack or
webhook URL answering 404/410 disables its channel with the answer as the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.critical_log import critical_log_write
from alerts.formatting import AlertContent
from alerts.models import NOT_CONFIGURED, Alert, AlertAttempt, AlertDelivery, Channel
from alerts.routing import Kind
from alerts.transports import TransportError, transport_for
from resilience import conf
from resilience.core.backoff import BackoffPolicy, backoff_delay_ms
from resilience.models import AuditEvent

log = logging.getLogger("faultline.alerts")
DStatus = AlertDelivery.Status
RESEND_PERMISSION = "alerts.resend_alertdelivery"
RESENDABLE = (DStatus.FAILED, DStatus.UNDELIVERED)


@dataclass(frozen=True)
class DeliveryOutcome:
    delivery_id: int
    status: str
    retry_at: datetime | None = None
    error: str = ""


def audit(action: str, *, actor, via: str, target_type: str, target_id, detail=None) -> None:
    AuditEvent.objects.create(action=action, actor=actor, via=via, target_type=target_type,
                              target_id=str(target_id), detail=dict(detail or {}))


def deliveries_enqueue(delivery_ids: Iterable[int]) -> None:
    """Queue a send per delivery; a broker outage leaves them PENDING for the sweep."""
    from alerts import tasks

    for delivery_id in delivery_ids:
        try:
            tasks.alert_deliver.apply_async(kwargs={"delivery_id": delivery_id}, retry=False)
        except Exception:  # noqa: BLE001 - alerts_redeliver_due picks them up
            log.warning("could not queue alert delivery %s; the sweep will send it",
                        delivery_id)


def _policy() -> BackoffPolicy:
    return BackoffPolicy(base_ms=int(conf.get("ALERT_BACKOFF_BASE_SECONDS") * 1000),
                         factor=2.0, cap_ms=int(conf.get("ALERT_BACKOFF_CAP_SECONDS") * 1000),
                         jitter=0.1)


def _claim(delivery_id: int, now: datetime) -> bool:
    stale = now - timedelta(seconds=conf.get("ALERT_CLAIM_TIMEOUT_SECONDS"))
    return AlertDelivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale),
        pk=delivery_id, status=DStatus.PENDING,
    ).update(claimed_at=now, attempts=F("attempts") + 1) == 1


def alert_delivery_send(*, delivery_id: int, now: datetime | None = None
                        ) -> DeliveryOutcome | None:
    """Make one attempt at a PENDING delivery that is due; None if it is not ours to send
    (already sent, not due yet, or claimed by another worker)."""
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = AlertDelivery.objects.select_related("alert", "channel").get(pk=delivery_id)
    alert, channel = delivery.alert, delivery.channel
    blocked = _blocked(channel, alert)
    if blocked:
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            status=DStatus.UNDELIVERED, error=blocked, claimed_at=None, next_attempt_at=None,
            attempts=F("attempts") - 1)
        alert_settle(alert_id=alert.pk, now=now)
        return DeliveryOutcome(delivery.pk, DStatus.UNDELIVERED, error=blocked)

    number = delivery.tries.count() + 1
    attempt = AlertAttempt.objects.create(delivery=delivery, number=number, started_at=now)
    # The seed's "Timestamp" is when the message goes out; the stored content stays as is.
    content = replace(AlertContent.from_json(alert.content), alert_id=alert.pk, sent_at=now)
    transport = transport_for(channel)
    started = time.monotonic()
    try:
        sent = transport.send(transport.build(content), now=time.time())
    except TransportError as exc:
        return _failed(delivery, attempt, channel, exc, now)
    except Exception as exc:
        log.exception("alert delivery %s raised", delivery.pk)
        duration = int((time.monotonic() - started) * 1000)
        return _failed(delivery, attempt, channel,
                       TransportError(f"unexpected error: {exc!r}", duration_ms=duration), now)
    finished = timezone.now()
    with transaction.atomic():
        AlertAttempt.objects.filter(pk=attempt.pk).update(
            outcome=AlertAttempt.Outcome.SENT, finished_at=finished,
            response_code=sent.status_code, duration_ms=sent.duration_ms)
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            status=DStatus.SENT, sent_at=finished, claimed_at=None, next_attempt_at=None,
            last_status_code=sent.status_code, last_duration_ms=sent.duration_ms, error="")
        Channel.objects.filter(pk=channel.pk).update(
            last_delivery_at=finished, last_duration_ms=sent.duration_ms)
        alert_settle(alert_id=alert.pk, now=now)
    return DeliveryOutcome(delivery.pk, DStatus.SENT)


def _blocked(channel: Channel | None, alert: Alert) -> str:
    if channel is None:
        return "channel deleted"
    if not channel.enabled and alert.kind != Kind.TEST:  # a test goes to a disabled channel
        return f"channel disabled: {channel.disabled_reason or NOT_CONFIGURED}"
    problem = channel.configuration_problem()
    return f"channel not configured: {problem}" if problem else ""


def _failed(delivery: AlertDelivery, attempt: AlertAttempt, channel: Channel,
            exc: TransportError, now: datetime) -> DeliveryOutcome:
    finished = timezone.now()
    attempts = delivery.attempts  # this one included (counted by the claim)
    retry = not exc.permanent and attempts < conf.get("ALERT_MAX_ATTEMPTS")
    retry_at = now + timedelta(milliseconds=backoff_delay_ms(_policy(), attempts - 1)) \
        if retry else None
    status = DStatus.PENDING if retry else DStatus.FAILED
    error = exc.message[:2000]
    with transaction.atomic():
        AlertAttempt.objects.filter(pk=attempt.pk).update(
            outcome=AlertAttempt.Outcome.FAILED, finished_at=finished,
            response_code=exc.status_code, duration_ms=exc.duration_ms,
            permanent=exc.permanent, error=error)
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            status=status, next_attempt_at=retry_at, claimed_at=None, error=error,
            last_status_code=exc.status_code, last_duration_ms=exc.duration_ms)
        changes = {"last_error": f"{finished:%Y-%m-%d %H:%M:%S} UTC: {error}",
                   "last_error_at": finished, "last_duration_ms": exc.duration_ms}
        if exc.disable:
            reason = f"disabled after HTTP {exc.status_code} at {finished:%Y-%m-%d %H:%M} UTC: "
            changes.update(enabled=False, disabled_reason=(reason + error)[:255])
            audit("alert_channel.disable", actor=None, via="system", target_type="alert_channel",
                  target_id=channel.pk, detail={"channel": channel.name, "error": error,
                                                "status": exc.status_code})
            log.error("alert channel %r disabled: %s", channel.name, error)
        Channel.objects.filter(pk=channel.pk).update(**changes)
        if not retry:
            alert_settle(alert_id=delivery.alert_id, now=now)
    return DeliveryOutcome(delivery.pk, status, retry_at=retry_at, error=error)


def alert_settle(*, alert_id: int, now: datetime) -> str:
    """The alert's status from its deliveries; a CRITICAL that none delivered is logged."""
    statuses = set(AlertDelivery.objects.filter(alert_id=alert_id)
                   .values_list("status", flat=True))
    if DStatus.SENT in statuses:
        status = Alert.Status.DELIVERED
    elif DStatus.PENDING in statuses:
        status = Alert.Status.PENDING
    elif statuses and statuses <= {DStatus.SUPPRESSED}:
        status = Alert.Status.SUPPRESSED
    else:
        status = Alert.Status.UNDELIVERED
    Alert.objects.filter(pk=alert_id).exclude(status=status).update(status=status)
    if status == Alert.Status.UNDELIVERED:
        alert_critical_log(alert_id=alert_id, now=now)
    return status


def alert_critical_log(*, alert_id: int, now: datetime) -> bool:
    """Write a CRITICAL alert to the critical log, once (a conditional UPDATE claims it)."""
    claimed = Alert.objects.filter(pk=alert_id, level="CRITICAL",
                                   critical_logged_at__isnull=True).update(
        critical_logged_at=now)
    if not claimed:
        return False
    alert = Alert.objects.get(pk=alert_id)
    errors = list(alert.deliveries.values("channel_name", "status", "error", "attempts"))
    record = {"logged_at": now.isoformat(), "alert_id": alert.pk, "kind": alert.kind,
              "level": alert.level, "title": alert.title, "message": alert.message,
              "group_key": alert.group_key, "reason": alert.status_reason or "undelivered",
              "deliveries": errors, "content": alert.content}
    transaction.on_commit(lambda: critical_log_write(record))
    return True


# --- operators: resend, test -------------------------------------------------------------


def alert_delivery_resend(*, delivery: AlertDelivery, actor, via: str = "admin",
                          now: datetime | None = None) -> bool:
    """Send a FAILED or UNDELIVERED delivery again (a fresh round of retries)."""
    if actor is not None and not actor.has_perm(RESEND_PERMISSION):
        raise PermissionDenied("needs the resend_alertdelivery permission")
    now = now or timezone.now()
    with transaction.atomic():
        changed = AlertDelivery.objects.filter(pk=delivery.pk, status__in=RESENDABLE).update(
            status=DStatus.PENDING, next_attempt_at=now, claimed_at=None, attempts=0)
        if not changed:
            return False
        Alert.objects.filter(pk=delivery.alert_id).exclude(
            status=Alert.Status.DELIVERED).update(status=Alert.Status.PENDING)
        audit("alert_delivery.resend", actor=actor, via=via, target_type="alert_delivery",
              target_id=delivery.pk, detail={"alert": delivery.alert_id,
                                             "channel": delivery.channel_name,
                                             "was": delivery.status})
        transaction.on_commit(lambda: deliveries_enqueue([delivery.pk]))
    return True


def channel_send_test(*, channel: Channel, actor, via: str = "admin",
                      now: datetime | None = None) -> AlertDelivery:
    """A test alert to one channel (even a disabled one: test before enabling)."""
    from alerts.services.content import test_content

    now = now or timezone.now()
    content = test_content(channel_name=channel.name, now=now)
    problem = channel.configuration_problem()
    with transaction.atomic():
        alert = Alert.objects.create(
            kind=Kind.TEST, level=content.level, title=content.title, message=content.message,
            subject_key=f"test:{channel.pk}", group_key=content.group_key,
            content=content.to_json(), created_at=now,
            status=Alert.Status.UNDELIVERED if problem else Alert.Status.PENDING,
            status_reason=f"channel not configured: {problem}" if problem else "",
        )
        delivery = AlertDelivery.objects.create(
            alert=alert, channel=channel, channel_name=channel.name, channel_kind=channel.kind,
            status=DStatus.UNDELIVERED if problem else DStatus.PENDING,
            error=f"channel not configured: {problem}" if problem else "",
            next_attempt_at=None if problem else now, created_at=now,
        )
        audit("alert_channel.test", actor=actor, via=via, target_type="alert_channel",
              target_id=channel.pk, detail={"channel": channel.name, "alert": alert.pk})
        if not problem:
            transaction.on_commit(lambda: deliveries_enqueue([delivery.pk]))
    return delivery


# --- the sweep ---------------------------------------------------------------------------

SWEEP_GRACE_SECONDS = 60
SWEEP_LIMIT = 500
THROTTLE_KEEP_DAYS = 30


def alerts_redeliver_due(*, now: datetime | None = None) -> list[int]:
    """Queue PENDING deliveries whose message was lost (broker outage, dead worker): due
    for more than a minute and not claimed (or claimed by a worker long gone)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=conf.get("ALERT_CLAIM_TIMEOUT_SECONDS"))
    ids = list(
        AlertDelivery.objects.filter(
            Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale),
            status=DStatus.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=SWEEP_GRACE_SECONDS),
        ).order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    deliveries_enqueue(ids)
    return ids


def alert_throttles_prune(*, now: datetime | None = None) -> int:
    """Forget throttle windows untouched for a month (their counts go with them)."""
    from alerts.models import AlertThrottle

    now = now or timezone.now()
    deleted, _ = AlertThrottle.objects.filter(
        last_alert_at__lt=now - timedelta(days=THROTTLE_KEEP_DAYS)).delete()
    return deleted
