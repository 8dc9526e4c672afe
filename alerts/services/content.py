"""From Faultline's records to what an alert says (AlertContent) and what rules match on
(Candidate). One function per kind of alert.

The seed's four alerts (alerts/messages.py) keep the seed's level and message whatever the
error's own severity: an IMMEDIATE_ALERT decision is CRITICAL "Critical error in <op>" even
for a HIGH security error, a dead letter is HIGH even for a LOW error. Faultline's own
alerts (new group, regression, threshold) take the group's severity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.text import slugify

from alerts.formatting import AlertContent
from alerts.messages import seed_alert
from alerts.routing import Candidate, Kind
from resilience import conf
from resilience.handling.guard import GUARD_SERVICE_SLUG
from resilience.models import DeadLetter, ErrorGroup, ErrorLogEntry, Service

HANDLER_FAILURE_CODE = "FAULTLINE_HANDLER_FAILURE"
# Alerts that are not about one group have no severity of their own.
CIRCUIT_OPEN_LEVEL = "HIGH"
DIGEST_LAG_LEVEL = "HIGH"
OPERATIONAL_LEVEL = "CRITICAL"  # Faultline itself cannot do its job
MONITOR_LEVEL = "HIGH"  # a scheduled job did not do its work
MONITOR_TITLES = {"error": "Cron job failed", "missed": "Cron job missed",
                  "timeout": "Cron job timed out"}

_TITLES = {
    Kind.NEW_GROUP: "New error: {title}",
    Kind.REGRESSION: "Regression: {title}",
    Kind.THRESHOLD: "Burst: {title}",
}


@dataclass(frozen=True)
class Signal:
    """Something that may become an alert: what rules match on, and what it would say."""

    candidate: Candidate
    content: AlertContent
    occurrences: int = 1
    group_muted: bool = False


def admin_url(obj: models.Model | None = None, *, changelist: type[models.Model] | None = None,
              ) -> str:
    if changelist is not None:
        opts = changelist._meta
        path = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    elif obj is not None:
        opts = obj._meta
        path = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    else:
        return ""
    return settings.EXTERNAL_URL + path


def service_labels(service: Service | None) -> dict[str, str]:
    """The service as alerts name it: the reporting service's slug and name, or the
    product's (ALERT_PRODUCT_NAME) for Faultline itself and its in-process guard."""
    if service is None or service.slug == GUARD_SERVICE_SLUG:
        name = conf.get("ALERT_PRODUCT_NAME")
        return {"service": slugify(name) or GUARD_SERVICE_SLUG, "service_name": name}
    return {"service": service.slug, "service_name": service.name}


def _entry_fields(entry: ErrorLogEntry | None) -> dict:
    if entry is None:
        return {}
    return {
        "code": entry.code,
        "error_name": entry.name,
        "error_message": entry.message[:2000],
        "operation": entry.operation,
        "campaign_id": entry.campaign_id,
        "component": entry.component,
        "environment": entry.environment,
    }


def group_signal(
    *, kind: str, group: ErrorGroup, entry: ErrorLogEntry | None, occurrences: int,
    now: datetime, title: str | None = None, rule_id: int | None = None, extra: dict | None = None,
) -> Signal:
    service = group.service
    fields = {
        "code": group.code, "error_name": group.name, "error_message": group.title,
        "operation": group.operation, "environment": group.environment,
        **{k: v for k, v in _entry_fields(entry).items() if v},
    }
    if kind in (Kind.IMMEDIATE, Kind.ESCALATION):
        level, message = seed_alert(kind, operation=fields["operation"])
        title = title or f"{message}: {group.title}"
    else:
        level = group.severity
        message = entry.message if entry and entry.message else group.title
        title = title or _TITLES[kind].format(title=group.title)
    content = AlertContent(
        kind=kind,
        level=level,
        title=title[:255],
        message=message[:2000],
        timestamp=entry.timestamp if entry else group.last_seen,
        **service_labels(service),
        category=group.category,
        occurrences=occurrences,
        link=admin_url(group),
        group_key=f"faultline:{service.slug}:{group.fingerprint}",
        extra={"group_id": group.pk, "times_seen": group.times_seen,
               "regression_count": group.regression_count, **(extra or {})},
        **fields,
    )
    candidate = Candidate(
        kind=kind, level=level, subject_key=f"group:{group.pk}", group_id=group.pk,
        service_id=group.service_id, category=group.category, operation=group.operation,
        environment=group.environment, rule_id=rule_id,
    )
    return Signal(candidate, content, occurrences,
                  group_muted=group.status == ErrorGroup.Status.MUTED)


def dead_letter_signal(
    *, letter: DeadLetter | None, entry: ErrorLogEntry | None, occurrences: int, now: datetime
) -> Signal:
    source = entry if entry is not None else letter
    service = source.service
    operation = (letter.operation if letter else entry.operation) or ""
    level, message = seed_alert(Kind.DEAD_LETTER, operation=operation)
    category = (entry.category if entry is not None else letter.category) or ""
    reason = letter.reason if letter else f"{entry.name or entry.code}: {entry.message}"
    link = admin_url(letter) if letter else admin_url(changelist=DeadLetter)
    extra = {}
    if letter is None and entry is not None and entry.group_id:
        # Nothing to replay, so no dead letter was made: its group is marked instead.
        link = admin_url(ErrorGroup(pk=entry.group_id))
        extra = {"group_id": entry.group_id, "needs_manual_intervention": True}
    content = AlertContent(
        kind=Kind.DEAD_LETTER,
        level=level,
        title=f"{message} ({service.slug})"[:255],
        message=message[:2000],
        timestamp=letter.created_at if letter else now,
        **service_labels(service),
        category=category,
        occurrences=occurrences,
        link=link,
        group_key=f"faultline:dead_letter:{service.slug}:{operation}",
        extra={"dead_letter_id": letter.pk if letter else None, **extra},
        **{"error_message": reason[:2000], **_entry_fields(entry), "operation": operation},
    )
    candidate = Candidate(
        kind=Kind.DEAD_LETTER, level=level,
        subject_key=f"dead_letter:{service.pk}:{operation}"[:200],
        group_id=entry.group_id if entry is not None else None,
        service_id=service.pk, category=category, operation=operation,
        environment=entry.environment if entry is not None else "",
    )
    return Signal(candidate, content, occurrences)


def fallback_failed_signal(*, entry: ErrorLogEntry, group: ErrorGroup | None,
                           now: datetime) -> Signal:
    """A FALLBACK decision whose fallback did not succeed (the guard's, or a reporting
    service's outcome). One throttle subject per service and operation, like dead letters."""
    service = entry.service
    level, message = seed_alert(Kind.FALLBACK_FAILED, operation=entry.operation)
    content = AlertContent(
        kind=Kind.FALLBACK_FAILED,
        level=level,
        title=f"{message} ({service.slug})"[:255],
        message=message[:2000],
        timestamp=entry.outcome_at or now,
        **service_labels(service),
        category=entry.category,
        link=admin_url(group) if group is not None else admin_url(entry),
        group_key=f"faultline:fallback_failed:{service.slug}:{entry.operation}"[:255],
        extra={"entry_id": entry.pk, "group_id": entry.group_id},
        **_entry_fields(entry),
    )
    candidate = Candidate(
        kind=Kind.FALLBACK_FAILED, level=level,
        subject_key=f"fallback_failed:{service.pk}:{entry.operation}"[:200],
        group_id=entry.group_id, service_id=service.pk, category=entry.category,
        operation=entry.operation, environment=entry.environment,
    )
    return Signal(candidate, content,
                  group_muted=group is not None and group.status == ErrorGroup.Status.MUTED)


def circuit_signal(*, operation: str, failure_count: int, circuit: models.Model | None,
                   now: datetime) -> Signal:
    content = AlertContent(
        kind=Kind.CIRCUIT_OPEN,
        level=CIRCUIT_OPEN_LEVEL,
        title=f"Circuit open: {operation}",
        message=f"The circuit breaker for {operation} opened after {failure_count} failures; "
                "calls are refused until a probe succeeds.",
        timestamp=now,
        **service_labels(getattr(circuit, "service", None)),
        operation=operation,
        category="EXTERNAL_DEPENDENCY",
        link=admin_url(circuit),
        group_key=f"faultline:circuit:{operation}",
        extra={"failure_count": failure_count},
    )
    # Each service's circuit for an operation is its own subject (circuits have owners).
    owner = getattr(circuit, "service_id", None)
    subject = f"circuit:{owner}:{operation}" if owner else f"circuit:{operation}"
    candidate = Candidate(kind=Kind.CIRCUIT_OPEN, level=CIRCUIT_OPEN_LEVEL,
                          subject_key=subject[:200], operation=operation,
                          category="EXTERNAL_DEPENDENCY")
    return Signal(candidate, content)


def digest_lag_signal(*, lag_seconds: int, oldest_received_at: datetime, now: datetime) -> Signal:
    content = AlertContent(
        kind=Kind.DIGEST_LAG,
        level=DIGEST_LAG_LEVEL,
        title=f"Digestion is {lag_seconds} s behind",
        message=f"The oldest undigested entry was received at {oldest_received_at.isoformat()}"
                f" ({lag_seconds} s ago): grouping, counts and alerts are late. Check the "
                "digest workers and the broker.",
        timestamp=now,
        **service_labels(None),
        link=admin_url(changelist=ErrorLogEntry),
        group_key="faultline:digest_lag",
        extra={"lag_seconds": lag_seconds},
    )
    return Signal(Candidate(kind=Kind.DIGEST_LAG, level=DIGEST_LAG_LEVEL,
                            subject_key="digest_lag"), content)


def operational_signal(*, title: str, detail: str, source: str, now: datetime) -> Signal:
    content = AlertContent(
        kind=Kind.OPERATIONAL, level=OPERATIONAL_LEVEL, title=title[:255],
        message=detail[:2000], timestamp=now, component=source[:200], **service_labels(None),
        group_key=f"faultline:operational:{source}:{title}"[:255], extra={"source": source},
    )
    return Signal(Candidate(kind=Kind.OPERATIONAL, level=OPERATIONAL_LEVEL,
                            subject_key=f"operational:{source}:{title}"[:200]), content)


def monitor_signal(*, monitor_id: int, service: Service | None, slug: str, status: str,
                   environment: str, detail: str, at: datetime, now: datetime) -> Signal:
    """A cron monitor's failed, missed or timed-out run. Rules match its operation as
    `monitor:<slug>` (so `monitor:*` routes every monitor), its service and environment."""
    title = f"{MONITOR_TITLES.get(status, 'Cron job problem')}: {slug}"
    operation = f"monitor:{slug}"[:200]
    slug_of_service = service.slug if service else ""
    content = AlertContent(
        kind=Kind.MONITOR, level=MONITOR_LEVEL, title=title[:255], message=detail[:2000],
        timestamp=at, **service_labels(service), operation=operation,
        environment=environment, error_message=detail[:2000],
        link=(settings.EXTERNAL_URL
              + reverse("admin:monitors_monitor_change", args=[monitor_id])),
        group_key=f"faultline:monitor:{slug_of_service}:{slug}"[:255],
        extra={"monitor_id": monitor_id, "status": status},
    )
    candidate = Candidate(kind=Kind.MONITOR, level=MONITOR_LEVEL,
                          subject_key=f"monitor:{monitor_id}",
                          service_id=service.pk if service is not None else None,
                          operation=operation, environment=environment)
    return Signal(candidate, content)


def test_content(*, channel_name: str, now: datetime) -> AlertContent:
    return AlertContent(
        kind=Kind.TEST, level="LOW", title=f"Test alert for {channel_name}",
        message="This is a test alert sent from the Faultline admin. No action is needed.",
        timestamp=now, **service_labels(None), group_key="faultline:test", category="CONFIGURATION",
        code="FAULTLINE_TEST", error_message="test alert", operation="alerts.test",
    )
