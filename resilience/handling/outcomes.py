"""Outcomes: what happened after a decision, as the caller (or the guard) reports it.

The outcome is kept on the entry (`outcome`, `outcome_at`) and counted into the entry's
hourly rollup (`ErrorMetric.succeeded` / `failed`) and its day total (`MetricDayTotal`,
resilience/digest/rollup_tiers.py), which is what the recovery rate reads.

Ordering with the digest, both ways:

- entry already digested: the matching rollup rows are UPDATEd by their key (the hour of
  the entry's timestamp, service, group, environment, category, severity, code, strategy;
  then its UTC day's total), in the same transaction as the entry;
- entry not digested yet: only the entry is written; the digest counts the outcomes it
  finds on the entries it claims.

The entry row is locked first (SELECT … FOR UPDATE), and the digest claims with FOR UPDATE
SKIP LOCKED, so an entry is never counted by both: either the digest waits for this
transaction and sees the outcome, or this one waits for the digest and sees digested_at.

Policy: the latest report wins. Reporting the same outcome again changes nothing
(idempotent); reporting the other one moves the count from one counter to the other, so a
caller that first reports a failed retry and later a success ends up counted once, as a
success.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from resilience import signals
from resilience.core.health_score import hour_floor
from resilience.core.strategy import Strategy
from resilience.digest.rollup_tiers import day_total_adjust
from resilience.models import ErrorLogEntry, ErrorMetric

Outcome = ErrorLogEntry.Outcome


@dataclass(frozen=True)
class OutcomeRecorded:
    entry_id: int
    outcome: str
    outcome_at: datetime
    changed: bool
    previous: str


def _adjust_rollup(entry: ErrorLogEntry, *, succeeded: int, failed: int) -> None:
    # The hour row, then the day total that sums it (the digest's order, see rollup_days.py).
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ErrorMetric._meta.db_table} SET succeeded = succeeded + %s, "
            "failed = failed + %s WHERE bucket = %s AND service_id = %s AND group_id = %s "
            "AND environment = %s AND category = %s AND severity = %s AND code = %s "
            "AND strategy = %s",
            [succeeded, failed, adapt(hour_floor(entry.timestamp)), entry.service_id,
             entry.group_id, entry.environment, entry.category, entry.severity, entry.code,
             entry.strategy],
        )
    day_total_adjust(timestamp=entry.timestamp, service_id=entry.service_id,
                     group_id=entry.group_id, environment=entry.environment,
                     category=entry.category, severity=entry.severity,
                     strategy=entry.strategy, code=entry.code, succeeded=succeeded,
                     failed=failed)


def _alert_fallback_failed(entry_id: int) -> None:
    signals.announce(signals.fallback_failed, entry_id=entry_id)


def entry_outcome_record(
    *, entry_id: int, succeeded: bool, service_id: int | None = None,
    now: datetime | None = None,
) -> OutcomeRecorded:
    """Set an entry's outcome and count it in its rollup.

    `service_id` scopes the lookup (a service key may only report on its own entries);
    raises ErrorLogEntry.DoesNotExist when there is no such entry in scope.
    """
    now = now or timezone.now()
    new = Outcome.SUCCEEDED if succeeded else Outcome.FAILED
    with transaction.atomic():
        qs = ErrorLogEntry.objects.select_for_update().only(
            "id", "service_id", "group_id", "timestamp", "digested_at", "environment",
            "category", "severity", "code", "strategy", "outcome", "outcome_at",
        )
        if service_id is not None:
            qs = qs.filter(service_id=service_id)
        entry = qs.get(pk=entry_id)
        previous = entry.outcome
        if previous == new:
            return OutcomeRecorded(entry.pk, new, entry.outcome_at or now, False, previous)
        ErrorLogEntry.objects.filter(pk=entry.pk).update(outcome=new, outcome_at=now)
        if entry.digested_at is not None and entry.group_id is not None:
            delta = {Outcome.SUCCEEDED: 0, Outcome.FAILED: 0}
            delta[new] += 1
            if previous in delta:
                delta[previous] -= 1
            _adjust_rollup(entry, succeeded=delta[Outcome.SUCCEEDED],
                           failed=delta[Outcome.FAILED])
        if new == Outcome.FAILED and entry.strategy == Strategy.FALLBACK:
            # The seed's handleWithFallback: "Fallback failed for <op>", once committed.
            transaction.on_commit(partial(_alert_fallback_failed, entry.pk))
    return OutcomeRecorded(entry.pk, new, now, True, previous)
