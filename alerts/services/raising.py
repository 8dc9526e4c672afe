"""Raising one signal: route it, pass it through each matched rule's throttle window and
the silences, then write the Alert and one AlertDelivery per channel, before anything is
sent (deliveries are queued after the rows commit).

Every caller comes through `alert_raise` (alerts/services/evaluate.py builds the signals).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F

from alerts.models import NOT_CONFIGURED, Alert, AlertDelivery, AlertThrottle, Channel
from alerts.routing import Kind, RuleSpec, channels_for, route
from alerts.services.content import Signal
from alerts.services.delivery import alert_critical_log, alert_settle, deliveries_enqueue
from alerts.throttling import (
    SilenceSpec,
    ThrottleDecision,
    ThrottleState,
    silenced_by,
    throttle_after,
    throttle_decide,
)
from resilience import conf

log = logging.getLogger("faultline.alerts")
Status = Alert.Status
DStatus = AlertDelivery.Status


@dataclass
class _RulePass:
    """What one signal's pass through its matched rules decided."""

    firing: list[RuleSpec] = field(default_factory=list)
    suppressed: list[tuple[RuleSpec, str]] = field(default_factory=list)
    opened: list[AlertThrottle] = field(default_factory=list)  # windows the alert opens
    counted_alerts: set[int] = field(default_factory=set)  # earlier alerts standing for it
    processed: set[int] = field(default_factory=set)  # throttle rows it went through
    previous_count: int = 0  # held back before it, carried by the alert
    previous_since: datetime | None = None

    def note_held(self, row: AlertThrottle) -> None:
        self.processed.add(row.pk)
        if row.last_alert_id:
            self.counted_alerts.add(row.last_alert_id)

    def note_opened(self, row: AlertThrottle, service_row: AlertThrottle | None,
                    decision: ThrottleDecision) -> None:
        """The alert goes out for this rule: it carries what the windows held back."""
        held_count, held_since = decision.previous_count, decision.previous_since
        if service_row is not None and service_row.count:
            held_count += service_row.count
            held_since = min(t for t in (held_since, service_row.count_since) if t)
        self.previous_count = max(self.previous_count, held_count)
        if held_since and (self.previous_since is None or held_since < self.previous_since):
            self.previous_since = held_since
        self.opened.append(row)
        if service_row is not None:
            self.opened.append(service_row)


def alert_raise(
    signal: Signal, *, rules: Sequence[RuleSpec], silences: Sequence[SilenceSpec],
    now: datetime,
) -> tuple[Alert | None, set[int]]:
    """Route one signal; returns the Alert written (None when throttled or unrouted) and
    the ids of the throttle rows it went through."""
    matched = route(rules, signal.candidate)
    if not matched:
        return _raise_unrouted(signal, now=now), set()
    with transaction.atomic():
        passed = _pass_rules(signal, matched, silences, now=now)
        if passed.counted_alerts:
            Alert.objects.filter(pk__in=passed.counted_alerts).update(
                occurrences=F("occurrences") + signal.occurrences)
        if not passed.opened:
            return None, passed.processed
        alert = _write_alert(signal, passed, now=now)
    return alert, passed.processed


def _raise_unrouted(signal: Signal, *, now: datetime) -> Alert | None:
    candidate = signal.candidate
    if candidate.level != "CRITICAL":
        log.info("no alert rule for %s %s", candidate.kind, candidate.subject_key)
        return None
    # Never lose a CRITICAL: with no rule for it, it is recorded and logged as such.
    with transaction.atomic():
        alert = _create_alert(signal, now=now, status=Status.UNDELIVERED,
                              reason="no alert rule matched", previous=(0, None))
        alert_critical_log(alert_id=alert.pk, now=now)
    return alert


# --- each matched rule: its throttle window, the service's cap, silences ------------------


def _throttle_window(rule: RuleSpec) -> timedelta:
    # ALERT_THROTTLE_ENABLED=False is the seed's AlertSystem: every alert is sent.
    if not conf.get("ALERT_THROTTLE_ENABLED"):
        return timedelta(0)
    return timedelta(minutes=rule.throttle_minutes)


def _throttle_row(rule_id: int, key: str) -> AlertThrottle:
    row, _ = AlertThrottle.objects.get_or_create(rule_id=rule_id, key=key)
    return AlertThrottle.objects.select_for_update().get(pk=row.pk)


def _state(row: AlertThrottle) -> ThrottleState:
    return ThrottleState(row.last_alert_at, row.count, row.count_since)


def _hold(row: AlertThrottle, decision: ThrottleDecision, *, signal: Signal,
          now: datetime) -> None:
    """Count the signal's occurrences into the row's open window instead of sending."""
    held = throttle_after(_state(row), decision, occurrences=signal.occurrences, now=now)
    row.count, row.count_since = held.count, held.count_since
    row.save(update_fields=["count", "count_since"])


def _pass_rules(signal: Signal, matched: Sequence[RuleSpec], silences: Sequence[SilenceSpec],
                *, now: datetime) -> _RulePass:
    passed = _RulePass()
    for rule in matched:
        row = _throttle_row(rule.id, signal.candidate.subject_key)
        decision = throttle_decide(_state(row), now=now, window=_throttle_window(rule))
        if not decision.send:
            _hold(row, decision, signal=signal, now=now)
            passed.note_held(row)
            continue
        passed.processed.add(row.pk)
        service_row, capped = _dead_letter_service_window(signal, rule, now)
        if capped:
            # Held back like a throttled one, but counted per service: the last
            # dead-letter alert of the service stands for it.
            _hold(service_row, ThrottleDecision(send=False), signal=signal, now=now)
            passed.note_held(service_row)
            continue
        passed.note_opened(row, service_row, decision)
        reason = _mute_reason(signal, rule, silences, now)
        if reason:
            passed.suppressed.append((rule, reason))
        else:
            passed.firing.append(rule)
    return passed


def _dead_letter_service_window(signal: Signal, rule: RuleSpec, now: datetime
                                ) -> tuple[AlertThrottle | None, bool]:
    """Dead letters only: the service's throttle row for this rule (locked), and whether
    the service already had ALERT_DEAD_LETTER_MAX_PER_SERVICE dead-letter alerts in the
    rule's window. Each operation has its own subject, so without this a burst over many
    operation names would make one alert each."""
    c = signal.candidate
    cap, window = conf.get("ALERT_DEAD_LETTER_MAX_PER_SERVICE"), _throttle_window(rule)
    if c.kind != Kind.DEAD_LETTER or c.service_id is None or not cap or not window:
        return None, False
    row = _throttle_row(rule.id, f"dead_letters:{c.service_id}")
    sent = Alert.objects.filter(kind=Kind.DEAD_LETTER, service_id=c.service_id,
                                rules=rule.id, created_at__gt=now - window).count()
    return row, sent >= cap


def _mute_reason(signal: Signal, rule: RuleSpec, silences: Sequence[SilenceSpec],
                 now: datetime) -> str:
    if signal.group_muted:
        return "group muted"
    c = signal.candidate
    silence = silenced_by(silences, group_id=c.group_id, service_id=c.service_id,
                          rule_id=rule.id, now=now)
    return f"silenced (silence #{silence.id} until {silence.ends_at:%Y-%m-%d %H:%M} UTC)" \
        if silence else ""


# --- writing the alert ----------------------------------------------------------------------


def _write_alert(signal: Signal, passed: _RulePass, *, now: datetime) -> Alert:
    """The Alert, its deliveries and the windows it opens; deliveries queued after commit."""
    firing = passed.firing
    reason = "" if firing else passed.suppressed[0][1]
    alert = _create_alert(signal, now=now, status=Status.PENDING if firing else
                          Status.SUPPRESSED, reason=reason,
                          previous=(passed.previous_count, passed.previous_since))
    alert.rules.set([r.id for r in firing] + [r.id for r, _ in passed.suppressed])
    pending = _write_deliveries(alert, firing, passed.suppressed, now=now)
    for row in passed.opened:
        row.last_alert_at, row.last_alert, row.count, row.count_since = now, alert, 0, None
        row.save(update_fields=["last_alert_at", "last_alert", "count", "count_since"])
    if firing and not alert.deliveries.exists():
        alert.status, alert.status_reason = Status.LOGGED, "no channel on the rule"
        alert.save(update_fields=["status", "status_reason"])
        log.warning("alert (log only): [%s] %s", alert.level, alert.title)
    elif firing and not pending:
        alert.status = alert_settle(alert_id=alert.pk, now=now)
    transaction.on_commit(lambda: deliveries_enqueue(pending))
    return alert


def _create_alert(signal: Signal, *, now: datetime, status: str, reason: str,
                  previous: tuple[int, datetime | None]) -> Alert:
    content = replace(signal.content, occurrences=signal.occurrences,
                      previous_count=previous[0], previous_since=previous[1])
    c = signal.candidate
    return Alert.objects.create(
        kind=c.kind, level=c.level, title=content.title[:255], message=content.message,
        status=status, status_reason=reason[:255], subject_key=c.subject_key,
        group_key=content.group_key[:255], service_id=c.service_id, group_id=c.group_id,
        occurrences=signal.occurrences, previous_count=previous[0],
        previous_since=previous[1], content=content.to_json(), created_at=now,
    )


def _channel_problem(channel: Channel) -> str:
    if not channel.enabled:
        return f"channel disabled: {channel.disabled_reason or NOT_CONFIGURED}"
    problem = channel.configuration_problem()
    return f"channel not configured: {problem}" if problem else ""


def _write_deliveries(alert: Alert, firing: list[RuleSpec],
                      suppressed: list[tuple[RuleSpec, str]], *, now: datetime) -> list[int]:
    routes = channels_for(firing)
    quiet = [(cid, rid) for cid, rid in channels_for([r for r, _ in suppressed])
             if cid not in dict(routes)]
    reasons = {r.id: reason for r, reason in suppressed}
    channels = Channel.objects.in_bulk([cid for cid, _ in routes + quiet])
    rows = []
    for channel_id, rule_id in routes:
        channel = channels[channel_id]
        problem = _channel_problem(channel)
        rows.append(AlertDelivery(
            alert=alert, channel=channel, channel_name=channel.name, channel_kind=channel.kind,
            rule_id=rule_id, status=DStatus.UNDELIVERED if problem else DStatus.PENDING,
            error=problem, next_attempt_at=None if problem else now, created_at=now,
        ))
    for channel_id, rule_id in quiet:
        channel = channels[channel_id]
        rows.append(AlertDelivery(
            alert=alert, channel=channel, channel_name=channel.name, channel_kind=channel.kind,
            rule_id=rule_id, status=DStatus.SUPPRESSED, error=reasons[rule_id], created_at=now,
        ))
    created = AlertDelivery.objects.bulk_create(rows)
    return [d.pk for d in created if d.status == DStatus.PENDING]
