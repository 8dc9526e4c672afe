"""Turning signals into alerts: route, throttle, silence, then write the Alert and one
AlertDelivery per channel, before anything is sent.

Runs on the "alerts" queue (alerts/tasks.py), after the digest batch that found the
signals has committed, or when a circuit opens, a dead letter is made, a fallback fails, or
digestion lags. Nothing here contacts a receiver: deliveries are queued after the rows
commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from alerts.models import NOT_CONFIGURED, Alert, AlertDelivery, AlertThrottle, Channel
from alerts.routing import Kind, RuleSpec, channels_for, group_kind, route, threshold_rules_for
from alerts.selectors import active_silences, rule_specs
from alerts.services.content import (
    HANDLER_FAILURE_CODE,
    Signal,
    circuit_signal,
    dead_letter_signal,
    digest_lag_signal,
    fallback_failed_signal,
    group_signal,
    operational_signal,
)
from alerts.services.delivery import alert_settle, deliveries_enqueue
from alerts.throttling import (
    SilenceSpec,
    ThrottleDecision,
    ThrottleState,
    silenced_by,
    threshold_reached,
    throttle_after,
    throttle_decide,
)
from resilience import conf
from resilience.digest.service import oldest_pending_received_at
from resilience.models import CircuitState, DeadLetter, ErrorGroup, ErrorLogEntry

log = logging.getLogger("faultline.alerts")
Status = Alert.Status
DStatus = AlertDelivery.Status


def _throttle_window(rule: RuleSpec) -> timedelta:
    # ALERT_THROTTLE_ENABLED=False is the seed's AlertSystem: every alert is sent.
    if not conf.get("ALERT_THROTTLE_ENABLED"):
        return timedelta(0)
    return timedelta(minutes=rule.throttle_minutes)


def _throttle_row(rule_id: int, key: str) -> AlertThrottle:
    row, _ = AlertThrottle.objects.get_or_create(rule_id=rule_id, key=key)
    return AlertThrottle.objects.select_for_update().get(pk=row.pk)


def _channel_problem(channel: Channel) -> str:
    if not channel.enabled:
        return f"channel disabled: {channel.disabled_reason or NOT_CONFIGURED}"
    problem = channel.configuration_problem()
    return f"channel not configured: {problem}" if problem else ""


def alert_raise(
    signal: Signal, *, rules: Sequence[RuleSpec], silences: Sequence[SilenceSpec],
    now: datetime,
) -> tuple[Alert | None, set[int]]:
    """Route one signal; returns the Alert written (None when throttled or unrouted) and
    the ids of the throttle rows it went through."""
    candidate = signal.candidate
    matched = route(rules, candidate)
    if not matched:
        if candidate.level != "CRITICAL":
            log.info("no alert rule for %s %s", candidate.kind, candidate.subject_key)
            return None, set()
        # Never lose a CRITICAL: with no rule for it, it is recorded and logged as such.
        with transaction.atomic():
            alert = _create_alert(signal, now=now, status=Status.UNDELIVERED,
                                  reason="no alert rule matched", previous=(0, None))
            _critical(alert, now)
        return alert, set()

    with transaction.atomic():
        firing: list[RuleSpec] = []
        suppressed: list[tuple[RuleSpec, str]] = []
        opened: list[AlertThrottle] = []
        counted_alerts: set[int] = set()
        processed: set[int] = set()
        previous_count, previous_since = 0, None
        for rule in matched:
            row = _throttle_row(rule.id, candidate.subject_key)
            processed.add(row.pk)
            state = ThrottleState(row.last_alert_at, row.count, row.count_since)
            decision = throttle_decide(state, now=now, window=_throttle_window(rule))
            after = throttle_after(state, decision, occurrences=signal.occurrences, now=now)
            if not decision.send:
                row.count, row.count_since = after.count, after.count_since
                row.save(update_fields=["count", "count_since"])
                if row.last_alert_id:
                    counted_alerts.add(row.last_alert_id)
                continue
            service_row, capped = _dead_letter_service_window(signal, rule, now)
            if capped:
                # Held back like a throttled one, but counted per service: the last
                # dead-letter alert of the service stands for it.
                held = throttle_after(ThrottleState(service_row.last_alert_at, service_row.count,
                                                    service_row.count_since),
                                      ThrottleDecision(send=False),
                                      occurrences=signal.occurrences, now=now)
                service_row.count, service_row.count_since = held.count, held.count_since
                service_row.save(update_fields=["count", "count_since"])
                processed.add(service_row.pk)
                if service_row.last_alert_id:
                    counted_alerts.add(service_row.last_alert_id)
                continue
            held_count, held_since = decision.previous_count, decision.previous_since
            if service_row is not None and service_row.count:
                held_count += service_row.count
                held_since = min(t for t in (held_since, service_row.count_since) if t)
            previous_count = max(previous_count, held_count)
            if held_since and (previous_since is None or held_since < previous_since):
                previous_since = held_since
            opened.append(row)
            if service_row is not None:
                opened.append(service_row)
            reason = _mute_reason(signal, rule, silences, now)
            if reason:
                suppressed.append((rule, reason))
            else:
                firing.append(rule)
        if counted_alerts:
            Alert.objects.filter(pk__in=counted_alerts).update(
                occurrences=F("occurrences") + signal.occurrences)
        if not opened:
            return None, processed

        reason = "" if firing else suppressed[0][1]
        alert = _create_alert(signal, now=now, status=Status.PENDING if firing else
                              Status.SUPPRESSED, reason=reason,
                              previous=(previous_count, previous_since))
        alert.rules.set([r.id for r in firing] + [r.id for r, _ in suppressed])
        pending = _write_deliveries(alert, firing, suppressed, now=now)
        for row in opened:
            row.last_alert_at, row.last_alert, row.count, row.count_since = now, alert, 0, None
            row.save(update_fields=["last_alert_at", "last_alert", "count", "count_since"])
        if firing and not alert.deliveries.exists():
            alert.status, alert.status_reason = Status.LOGGED, "no channel on the rule"
            alert.save(update_fields=["status", "status_reason"])
            log.warning("alert (log only): [%s] %s", alert.level, alert.title)
        elif firing and not pending:
            alert.status = alert_settle(alert_id=alert.pk, now=now)
        transaction.on_commit(lambda: deliveries_enqueue(pending))
    return alert, processed


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


def _critical(alert: Alert, now: datetime) -> None:
    from alerts.services.delivery import alert_critical_log

    alert_critical_log(alert_id=alert.pk, now=now)


# --- what the digest found ----------------------------------------------------------------


def _nth_newest_received_at(group_id: int, n: int) -> datetime | None:
    """Read at most n index entries of (group, -id): the n-th most recent occurrence."""
    return (
        ErrorLogEntry.objects.filter(group_id=group_id).order_by("-id")
        .values_list("received_at", flat=True)[n - 1 : n].first()
    )


def _count_into_windows(counts: dict[int, int], *, exclude: set[int], now: datetime) -> None:
    """Occurrences of groups that raised nothing this time go into their open windows (two
    statements, whatever the number of groups)."""
    keys = {f"group:{gid}": n for gid, n in counts.items() if n}
    if not keys:
        return
    rows = list(AlertThrottle.objects.filter(key__in=keys).exclude(pk__in=exclude)
                .values_list("pk", "key", "last_alert_id"))
    if not rows:
        return
    AlertThrottle.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
        count=F("count") + Case(*[When(key=k, then=Value(n)) for k, n in keys.items()],
                                default=Value(0)),
        count_since=Coalesce("count_since", Value(now)),
    )
    by_alert = {alert_id: keys[key] for _, key, alert_id in rows if alert_id}
    if by_alert:
        Alert.objects.filter(pk__in=by_alert).update(
            occurrences=F("occurrences") + Case(
                *[When(pk=pk, then=Value(n)) for pk, n in by_alert.items()], default=Value(0)))


def alerts_evaluate_digest(
    *, new_groups: Iterable[int] = (), regressions: Iterable[int] = (),
    groups: Iterable[Sequence[int]] = (), immediate: Iterable[Sequence[int]] = (),
    dead_letters: Iterable[Sequence[int]] = (), now: datetime | None = None,
) -> list[Alert]:
    """Alerts for one committed digest batch (alerts/hooks.py builds the arguments).

    ``groups``: (group id, entries added, newest entry id) for every group touched;
    ``immediate``: (group id, first IMMEDIATE_ALERT entry id); ``dead_letters``: (entry
    id, count) per dead-lettered service and operation.
    """
    if not conf.get("ALERT_ENABLED"):
        return []
    # One transaction for the whole batch: a database that drops mid-way leaves nothing
    # behind, so the task's retry (alerts/tasks.py) neither doubles an alert nor a count.
    with transaction.atomic():
        return _evaluate_digest(new_groups=new_groups, regressions=regressions,
                                groups=groups, immediate=immediate,
                                dead_letters=dead_letters, now=now or timezone.now())


def _evaluate_digest(
    *, new_groups: Iterable[int], regressions: Iterable[int], groups: Iterable[Sequence[int]],
    immediate: Iterable[Sequence[int]], dead_letters: Iterable[Sequence[int]], now: datetime,
) -> list[Alert]:
    rules = rule_specs()
    silences = active_silences(now=now)
    counts = {int(g[0]): int(g[1]) for g in groups}
    newest = {int(g[0]): int(g[2]) for g in groups}
    first_immediate = {int(g): int(e) for g, e in immediate}
    kinds: dict[int, set[str]] = {}
    for gid in new_groups:
        kinds.setdefault(int(gid), set()).add(Kind.NEW_GROUP)
    for gid in regressions:
        kinds.setdefault(int(gid), set()).add(Kind.REGRESSION)
    for gid in first_immediate:
        kinds.setdefault(gid, set()).add(Kind.IMMEDIATE)
    threshold_rules = [r for r in rules if r.has_threshold]
    wanted = set(kinds) | (set(counts) if threshold_rules else set())
    groups_by_id = ErrorGroup.objects.select_related("service").in_bulk(wanted)
    entry_ids = {first_immediate.get(g) or newest.get(g) for g in kinds} - {None}
    entries = ErrorLogEntry.objects.in_bulk(entry_ids)

    alerts: list[Alert] = []
    processed: set[int] = set()

    def add(signal: Signal, rules_: Sequence[RuleSpec]) -> None:
        alert, rows = alert_raise(signal, rules=rules_, silences=silences, now=now)
        processed.update(rows)
        if alert is not None:
            alerts.append(alert)

    for gid in sorted(kinds):
        group = groups_by_id.get(gid)
        if group is None:
            continue
        entry = entries.get(first_immediate.get(gid) or newest.get(gid))
        if gid in first_immediate and entry is not None and entry.code == HANDLER_FAILURE_CODE:
            kinds[gid].add(Kind.ESCALATION)
        kind = group_kind(kinds[gid])
        # What the one alert also stands for: a new group or a regression (an escalation
        # is an IMMEDIATE_ALERT decision already).
        also = sorted(kinds[gid] - {kind, Kind.IMMEDIATE})
        add(group_signal(kind=kind, group=group, entry=entry, occurrences=counts.get(gid, 1),
                         now=now, extra={"also": also} if also else None), rules)

    for gid in sorted(counts) if threshold_rules else ():
        group = groups_by_id.get(gid)
        if group is None:
            continue
        probe = group_signal(kind=Kind.THRESHOLD, group=group, entry=None,
                             occurrences=counts[gid], now=now)
        for rule in threshold_rules_for(threshold_rules, probe.candidate):
            n, minutes = rule.threshold_count, rule.threshold_minutes
            n = min(n, conf.get("ALERT_THRESHOLD_MAX_COUNT"))
            if not threshold_reached(nth_newest_at=_nth_newest_received_at(gid, n),
                                     window=timedelta(minutes=minutes), now=now):
                continue
            add(group_signal(
                kind=Kind.THRESHOLD, group=group, entry=None, occurrences=counts[gid], now=now,
                rule_id=rule.id, title=f"{n}+ events in {minutes} min: {group.title}",
                extra={"threshold": {"count": n, "minutes": minutes, "rule": rule.name}},
            ), [rule])

    dead = dict((int(e), int(n)) for e, n in dead_letters)
    if dead:
        dl_entries = ErrorLogEntry.objects.select_related("service").in_bulk(dead)
        letters = {d.entry_id: d for d in DeadLetter.objects.filter(entry_id__in=dead)}
        for entry_id in sorted(dl_entries):
            entry = dl_entries[entry_id]
            add(dead_letter_signal(letter=letters.get(entry_id), entry=entry,
                                   occurrences=dead[entry_id], now=now), rules)

    _count_into_windows(counts, exclude=processed, now=now)
    return alerts


# --- circuits, dead letters made outside the digest, digestion lag ------------------------


def alerts_evaluate_circuit_open(*, operation: str, circuit_id: int | None = None,
                                 now: datetime | None = None) -> Alert | None:
    """`circuit_id` names the circuit (circuits belong to a service); without it, any
    circuit of that operation (messages queued before circuits had owners)."""
    if not conf.get("ALERT_ENABLED"):
        return None
    now = now or timezone.now()
    circuits = CircuitState.objects.select_related("service").filter(operation=operation)
    circuit = (circuits.filter(pk=circuit_id) if circuit_id else circuits).first()
    signal = circuit_signal(operation=operation,
                            failure_count=circuit.failure_count if circuit else 0,
                            circuit=circuit, now=now)
    return alert_raise(signal, rules=rule_specs(), silences=active_silences(now=now),
                       now=now)[0]


def alerts_evaluate_dead_letter(*, dead_letter_id: int, now: datetime | None = None
                                ) -> Alert | None:
    if not conf.get("ALERT_ENABLED"):
        return None
    now = now or timezone.now()
    letter = DeadLetter.objects.select_related("service", "entry").filter(
        pk=dead_letter_id).first()
    if letter is None:
        return None
    signal = dead_letter_signal(letter=letter, entry=letter.entry, occurrences=1, now=now)
    return alert_raise(signal, rules=rule_specs(), silences=active_silences(now=now),
                       now=now)[0]


def alerts_evaluate_fallback_failed(*, entry_id: int, now: datetime | None = None
                                    ) -> Alert | None:
    """The seed's "Fallback failed for <op>": an entry whose FALLBACK decision was reported
    FAILED (by the guard, or by the reporting service through the outcome API)."""
    if not conf.get("ALERT_ENABLED"):
        return None
    now = now or timezone.now()
    entry = ErrorLogEntry.objects.select_related("service", "group").filter(
        pk=entry_id).first()
    if entry is None:
        return None
    signal = fallback_failed_signal(entry=entry, group=entry.group, now=now)
    return alert_raise(signal, rules=rule_specs(), silences=active_silences(now=now),
                       now=now)[0]


def alerts_check_digest_lag(*, now: datetime | None = None) -> Alert | None:
    """The periodic check: alert when the oldest undigested entry is older than
    ALERT_DIGEST_LAG_SECONDS (one indexed read of the pending queue)."""
    if not conf.get("ALERT_ENABLED"):
        return None
    now = now or timezone.now()
    oldest = oldest_pending_received_at()
    if oldest is None:
        return None
    lag = int((now - oldest).total_seconds())
    if lag < conf.get("ALERT_DIGEST_LAG_SECONDS"):
        return None
    signal = digest_lag_signal(lag_seconds=lag, oldest_received_at=oldest, now=now)
    return alert_raise(signal, rules=rule_specs(), silences=active_silences(now=now),
                       now=now)[0]


def alerts_evaluate_operational(*, title: str, detail: str, source: str,
                                now: datetime | None = None) -> Alert | None:
    """An alert raised by another part of Faultline (recovery: a dependency still down)."""
    if not conf.get("ALERT_ENABLED"):
        return None
    now = now or timezone.now()
    signal = operational_signal(title=title, detail=detail, source=source, now=now)
    return alert_raise(signal, rules=rule_specs(), silences=active_silences(now=now),
                       now=now)[0]
