"""Turning signals into alerts: what each source found, as signals for `alert_raise`
(alerts/services/raising.py: route, throttle, silence, then the Alert and its deliveries).

Runs on the "alerts" queue (alerts/tasks.py), after the digest batch that found the
signals has committed, or when a circuit opens, a dead letter is made, a fallback fails, or
digestion lags. Nothing here contacts a receiver: deliveries are queued after the rows
commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from alerts.models import Alert, AlertThrottle
from alerts.routing import Kind, RuleSpec, group_kind, threshold_rules_for
from alerts.selectors import active_silences, rule_specs
from alerts.services.content import (
    HANDLER_FAILURE_CODE,
    Signal,
    circuit_signal,
    dead_letter_signal,
    digest_lag_signal,
    fallback_failed_signal,
    group_signal,
    monitor_signal,
    operational_signal,
)
from alerts.services.raising import alert_raise
from alerts.throttling import SilenceSpec, threshold_reached
from resilience import conf
from resilience.digest.selectors import oldest_pending_received_at
from resilience.models import CircuitState, DeadLetter, ErrorGroup, ErrorLogEntry, Service
from resilience.sentry.mapping import is_message_event, level_at_least

# --- what the digest found ----------------------------------------------------------------


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


@dataclass
class _DigestRun:
    """One batch's evaluation: the rules and silences read once, and what it raised."""

    rules: list[RuleSpec]
    silences: list[SilenceSpec]
    now: datetime
    alerts: list[Alert] = field(default_factory=list)
    processed: set[int] = field(default_factory=set)  # throttle rows the alerts went through

    def raise_signal(self, signal: Signal, rules: Sequence[RuleSpec]) -> None:
        alert, rows = alert_raise(signal, rules=rules, silences=self.silences, now=self.now)
        self.processed.update(rows)
        if alert is not None:
            self.alerts.append(alert)


@dataclass
class _Findings:
    """The batch's groups: what each became (new, regressed, IMMEDIATE_ALERT) and counts."""

    counts: dict[int, int]  # group id → entries added
    newest: dict[int, int]  # group id → newest entry id
    first_immediate: dict[int, int]  # group id → first IMMEDIATE_ALERT entry id
    kinds: dict[int, set[str]]

    def entry_id(self, group_id: int) -> int | None:
        """The entry an alert for the group shows: its first IMMEDIATE_ALERT, else newest."""
        return self.first_immediate.get(group_id) or self.newest.get(group_id)


def _findings(*, new_groups: Iterable[int], regressions: Iterable[int],
              groups: Iterable[Sequence[int]], immediate: Iterable[Sequence[int]]) -> _Findings:
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
    return _Findings(counts, newest, first_immediate, kinds)


def _evaluate_digest(
    *, new_groups: Iterable[int], regressions: Iterable[int], groups: Iterable[Sequence[int]],
    immediate: Iterable[Sequence[int]], dead_letters: Iterable[Sequence[int]], now: datetime,
) -> list[Alert]:
    run = _DigestRun(rule_specs(), active_silences(now=now), now)
    found = _findings(new_groups=new_groups, regressions=regressions, groups=groups,
                      immediate=immediate)
    threshold_rules = [r for r in run.rules if r.has_threshold]
    # Every touched group is read only when a threshold rule may need it.
    wanted = set(found.kinds) | (set(found.counts) if threshold_rules else set())
    groups_by_id = ErrorGroup.objects.select_related("service").in_bulk(wanted)
    _raise_group_alerts(run, found, groups_by_id)
    if threshold_rules:
        _raise_threshold_alerts(run, threshold_rules, found.counts, groups_by_id)
    _raise_dead_letter_alerts(run, dead_letters)
    _count_into_windows(found.counts, exclude=run.processed, now=now)
    return run.alerts


def _raise_group_alerts(run: _DigestRun, found: _Findings,
                        groups_by_id: dict[int, ErrorGroup]) -> None:
    """One alert per group the batch made new, regressed or marked IMMEDIATE_ALERT."""
    entries = ErrorLogEntry.objects.in_bulk({found.entry_id(g) for g in found.kinds} - {None})
    for gid in sorted(found.kinds):
        group = groups_by_id.get(gid)
        if group is None:
            continue
        entry = entries.get(found.entry_id(gid))
        kinds = found.kinds[gid]
        if Kind.NEW_GROUP in kinds and _quiet_message(entry):
            kinds.discard(Kind.NEW_GROUP)
            if not kinds:
                continue
        if (gid in found.first_immediate and entry is not None
                and entry.code == HANDLER_FAILURE_CODE):
            kinds.add(Kind.ESCALATION)
        kind = group_kind(kinds)
        # What the one alert also stands for: a new group or a regression (an escalation
        # is an IMMEDIATE_ALERT decision already).
        also = sorted(kinds - {kind, Kind.IMMEDIATE})
        run.raise_signal(group_signal(kind=kind, group=group, entry=entry,
                                      occurrences=found.counts.get(gid, 1), now=run.now,
                                      extra={"also": also} if also else None), run.rules)


def _quiet_message(entry: ErrorLogEntry | None) -> bool:
    """A Sentry message below ALERT_MIN_MESSAGE_LEVEL (an info log line, say) is not a new
    error: its group raises no "New error" alert (thresholds and regressions still do)."""
    return (entry is not None and is_message_event(entry.extra)
            and not level_at_least(entry.extra.get("level"), conf.get("ALERT_MIN_MESSAGE_LEVEL")))


def _raise_threshold_alerts(run: _DigestRun, threshold_rules: list[RuleSpec],
                            counts: dict[int, int], groups_by_id: dict[int, ErrorGroup]) -> None:
    """Each touched group against each "N events in M minutes" rule that covers it."""
    for gid in sorted(counts):
        group = groups_by_id.get(gid)
        if group is None:
            continue
        probe = group_signal(kind=Kind.THRESHOLD, group=group, entry=None,
                             occurrences=counts[gid], now=run.now)
        for rule in threshold_rules_for(threshold_rules, probe.candidate):
            signal = _threshold_signal(rule, group, occurrences=counts[gid], now=run.now)
            if signal is not None:
                run.raise_signal(signal, [rule])


def _threshold_signal(rule: RuleSpec, group: ErrorGroup, *, occurrences: int,
                      now: datetime) -> Signal | None:
    """The rule's threshold alert for the group, or None while the threshold is not met."""
    n, minutes = rule.threshold_count, rule.threshold_minutes
    n = min(n, conf.get("ALERT_THRESHOLD_MAX_COUNT"))
    if not threshold_reached(nth_newest_at=_nth_newest_received_at(group.pk, n),
                             window=timedelta(minutes=minutes), now=now):
        return None
    return group_signal(
        kind=Kind.THRESHOLD, group=group, entry=None, occurrences=occurrences, now=now,
        rule_id=rule.id, title=f"{n}+ events in {minutes} min: {group.title}",
        extra={"threshold": {"count": n, "minutes": minutes, "rule": rule.name}},
    )


def _raise_dead_letter_alerts(run: _DigestRun, dead_letters: Iterable[Sequence[int]]) -> None:
    """One alert per dead-lettered service and operation (its first entry stands for it)."""
    dead = dict((int(e), int(n)) for e, n in dead_letters)
    if not dead:
        return
    dl_entries = ErrorLogEntry.objects.select_related("service").in_bulk(dead)
    letters = {d.entry_id: d for d in DeadLetter.objects.filter(entry_id__in=dead)}
    for entry_id in sorted(dl_entries):
        run.raise_signal(dead_letter_signal(letter=letters.get(entry_id),
                                            entry=dl_entries[entry_id],
                                            occurrences=dead[entry_id], now=run.now),
                         run.rules)


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


def alerts_evaluate_monitor(*, monitor_id: int, service_id: int, slug: str, status: str,
                            environment: str = "", detail: str = "", at: str = "",
                            check_in_id: int | None = None, now: datetime | None = None
                            ) -> Alert | None:
    """A cron monitor's run failed, was missed or timed out (monitors/services.py). The
    signal carries everything said about it, so alerts never reads the monitors' tables."""
    if not conf.get("ALERT_ENABLED"):
        return None
    now = now or timezone.now()
    signal = monitor_signal(
        monitor_id=monitor_id, service=Service.objects.filter(pk=service_id).first(),
        slug=slug, status=status, environment=environment, detail=detail,
        at=datetime.fromisoformat(at) if at else now, now=now)
    return alert_raise(signal, rules=rule_specs(), silences=active_silences(now=now),
                       now=now)[0]
