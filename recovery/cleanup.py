"""Clean-up (daily): rows past their retention, deleted in bounded batches.

Each batch is one short transaction: select at most RETENTION_BATCH_SIZE ids, deal with
the rows that point at them (as their foreign keys say: SET_NULL → set to NULL, CASCADE →
deleted first in the same batch, PROTECT/RESTRICT → that row is kept), then one
`DELETE … WHERE id = ANY(ids)`, commit. No lock is held for longer than one batch, and the
run reports how many rows it removed, in how many batches, and the largest batch.

What is deleted, and what is not (retentions are FAULTLINE settings, in days):

- entries (`ErrorLogEntry`) older than RETENTION_ENTRIES_DAYS (30) by their timestamp,
  once digested: an undigested entry is never deleted, or its rollup would be lost;
- rollups, hourly (`ErrorMetric`) and the tiers that sum them (`MetricHourTotal`,
  `MetricDayTotal`, `MetricDayGroup`), of the UTC days wholly before
  RETENTION_METRICS_DAYS (400): the dashboards read these, so they outlive the entries by
  far. Whole days of every tier go together, so a tier row stays the sum of the hour rows
  kept (up to a day more is kept than the setting says);
- error groups with nothing left (no entries, no rollups), last seen before the rollup
  retention, and not OPEN (an open group is still somebody's to-do). Nothing younger can
  go: ErrorMetric points at its group with CASCADE, so deleting a group would delete the
  rollups that are to be kept;
- completed campaign timers executed more than RETENTION_TIMERS_DAYS (7) ago, and
  outbox events PUBLISHED more than RETENTION_OUTBOX_DAYS (7) ago (PENDING and FAILED ones
  are kept: they are still owed to the bus or to an operator): both procedures are
  campaigns' own (campaigns/procedures.py), registered in this group;
- dead letters REPLAYED or DISCARDED more than RETENTION_DEAD_LETTERS_DAYS (30) ago,
  through the dead-letter purge (one AuditEvent per batch, naming its rows);
- recovery runs older than RETENTION_RECOVERY_RUNS_DAYS (90).
- Sentry attachments (their files too) and user feedback whose entry is gone, received
  before RETENTION_ENTRIES_DAYS: they go with their entry, and one whose event never came
  (or feedback about no event) ages out like an entry would.

Orphans: the schema rules most out. Timers, rollups, group history and replay attempts
point at their parent with CASCADE, so they cannot outlive it; entries and dead letters
keep a SET_NULL link by design (an entry whose group went, a dead letter whose entry was
cleaned up, are still records). The outbox has no foreign key at all. The only "orphans"
worth collecting are the emptied error groups above.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, QuerySet

from recovery.models import RecoveryRun
from recovery.registry import CLEANUP, Result, procedure
from resilience import conf
from resilience.attachments.services import attachments_delete
from resilience.core.rollup_days import day_floor
from resilience.models import (
    ErrorGroup,
    ErrorLogEntry,
    ErrorMetric,
    EventAttachment,
    MetricDayGroup,
    MetricDayTotal,
    MetricHourTotal,
    UserFeedback,
)

_SQLITE_CHUNK = 500  # SQLite caps bound parameters per statement


@dataclass
class Purge:
    deleted: int = 0
    batches: int = 0
    max_batch: int = 0
    kept: int = 0  # protected by a foreign key

    def as_changed(self, **extra) -> dict:
        return {"deleted": self.deleted, "batches": self.batches, "max_batch": self.max_batch,
                **({"kept_protected": self.kept} if self.kept else {}), **extra}


def _reverse_relations(model: type[models.Model]):
    """Foreign keys (and many-to-many through rows) pointing at `model`."""
    return [
        f for f in model._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one)
    ]


def _raw_delete(model: type[models.Model], ids: list) -> int:
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    deleted = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DELETE FROM {table} WHERE {pk} = ANY(%s)", [list(ids)])
            return cursor.rowcount
        for start in range(0, len(ids), _SQLITE_CHUNK):
            chunk = ids[start:start + _SQLITE_CHUNK]
            marks = ",".join(["%s"] * len(chunk))
            cursor.execute(f"DELETE FROM {table} WHERE {pk} IN ({marks})", chunk)
            deleted += cursor.rowcount
    return deleted


def delete_ids(model: type[models.Model], ids: list) -> tuple[int, int]:
    """Delete these rows and handle what points at them; (deleted, kept). In a transaction."""
    relations = _reverse_relations(model)
    kept: set = set()
    for rel in relations:
        if rel.on_delete in (models.PROTECT, models.RESTRICT):
            kept |= set(rel.related_model._base_manager.filter(
                **{f"{rel.field.name}__in": ids}).values_list(rel.field.attname, flat=True))
    ids = [i for i in ids if i not in kept]
    if not ids:
        return 0, len(kept)
    for rel in relations:
        related, name = rel.related_model, rel.field.name
        pointing = related._base_manager.filter(**{f"{name}__in": ids})
        if rel.on_delete is models.SET_NULL:
            pointing.update(**{name: None})
        elif rel.on_delete is models.CASCADE:
            child_ids = list(pointing.values_list("pk", flat=True))
            if child_ids:
                delete_ids(related, child_ids)
        elif rel.on_delete not in (models.DO_NOTHING, models.PROTECT, models.RESTRICT):
            # SET_DEFAULT, SET(...): no model here uses them; refuse rather than guess.
            raise NotImplementedError(f"{related.__name__}.{name}: {rel.on_delete.__name__}")
    return _raw_delete(model, ids), len(kept)


def delete_in_batches(queryset: QuerySet, *, batch_size: int | None = None,
                      order_by: str = "pk") -> Purge:
    """Delete every row of `queryset`, at most `batch_size` per transaction."""
    batch_size = batch_size or conf.get("RETENTION_BATCH_SIZE")
    result = Purge()
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by(order_by).values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            deleted, kept = delete_ids(queryset.model, ids)
        result.deleted += deleted
        result.kept += kept
        result.batches += 1
        result.max_batch = max(result.max_batch, len(ids))
        if len(ids) < batch_size or deleted == 0:
            break  # the last batch; or everything left is protected
    return result


def retention_cut(now: datetime, setting: str) -> datetime:
    return now - timedelta(days=conf.get(setting))


@procedure("cleanup.entries", group=CLEANUP,
           description="Error log entries past RETENTION_ENTRIES_DAYS (digested ones only).")
def cleanup_entries(now: datetime) -> Result:
    cut = retention_cut(now, "RETENTION_ENTRIES_DAYS")
    old = ErrorLogEntry.objects.filter(timestamp__lt=cut, digested_at__isnull=False)
    return Result(changed=delete_in_batches(old, order_by="timestamp").as_changed(
        before=cut.isoformat()))


def _without_entry(queryset: QuerySet) -> QuerySet:
    """Rows (keyed by service and event id) whose entry is not, or no longer, stored."""
    return queryset.exclude(Exists(ErrorLogEntry.objects.filter(
        service_id=OuterRef("service_id"), event_id=OuterRef("event_id"))))


@procedure("cleanup.attachments", group=CLEANUP,
           description="Sentry attachments and user feedback whose entry is gone, received "
                       "before RETENTION_ENTRIES_DAYS.")
def cleanup_attachments(now: datetime) -> Result:
    cut = retention_cut(now, "RETENTION_ENTRIES_DAYS")
    batch_size = conf.get("RETENTION_BATCH_SIZE")
    old = _without_entry(EventAttachment.objects.filter(received_at__lt=cut))
    files = Purge()
    while True:
        # Row by row with their files (attachments_delete), a batch per transaction.
        batch = list(old.order_by("pk").only("pk", "path")[:batch_size])
        deleted = attachments_delete(batch)
        files.deleted += deleted
        files.batches += bool(batch)
        files.max_batch = max(files.max_batch, len(batch))
        if len(batch) < batch_size or not deleted:
            break
    feedback = delete_in_batches(
        _without_entry(UserFeedback.objects.filter(received_at__lt=cut)))
    return Result(changed=files.as_changed(before=cut.isoformat(),
                                           feedback_deleted=feedback.deleted))


@procedure("cleanup.metrics", group=CLEANUP,
           description="Hourly rollups and their tiers of UTC days past RETENTION_METRICS_DAYS.")
def cleanup_metrics(now: datetime) -> Result:
    # Whole UTC days of every tier, so a tier row is always the sum of the hour rows kept.
    cut = day_floor(retention_cut(now, "RETENTION_METRICS_DAYS"))
    hours = delete_in_batches(ErrorMetric.objects.filter(bucket__lt=cut), order_by="bucket")
    tiers = {name: delete_in_batches(model.objects.filter(bucket__lt=cut), order_by="bucket")
             for name, model in (("hour_totals", MetricHourTotal), ("day_totals", MetricDayTotal),
                                 ("day_groups", MetricDayGroup))}
    return Result(changed=hours.as_changed(
        before=cut.isoformat(), **{f"{name}_deleted": purge.deleted
                                   for name, purge in tiers.items()}))


@procedure("cleanup.groups", group=CLEANUP,
           description="Error groups with no entries or rollups left, not OPEN, last seen "
                       "before the rollup retention.")
def cleanup_groups(now: datetime) -> Result:
    cut = retention_cut(now, "RETENTION_METRICS_DAYS")
    empty = (
        ErrorGroup.objects.filter(last_seen__lt=cut)
        .exclude(status=ErrorGroup.Status.OPEN)
        .exclude(Exists(ErrorLogEntry.objects.filter(group_id=OuterRef("pk"))))
        .exclude(Exists(ErrorMetric.objects.filter(group_id=OuterRef("pk"))))
        .exclude(Exists(MetricDayGroup.objects.filter(group_id=OuterRef("pk"))))
    )
    return Result(changed=delete_in_batches(empty).as_changed(before=cut.isoformat()))


@procedure("cleanup.dead_letters", group=CLEANUP,
           description="Dead letters replayed or discarded before RETENTION_DEAD_LETTERS_DAYS "
                       "(through the audited purge).")
def cleanup_dead_letters(now: datetime) -> Result:
    from resilience.dead_letters.services import dead_letter_purge, purgeable

    days = conf.get("RETENTION_DEAD_LETTERS_DAYS")
    batch_size = min(conf.get("RETENTION_BATCH_SIZE"), 1000)  # ids are listed in the audit
    result = Purge()
    while True:
        batch = list(purgeable(older_than_days=days, now=now).order_by("id")
                     .values_list("id", flat=True)[:batch_size])
        if not batch:
            break
        purged = dead_letter_purge(actor=None, via="system", older_than_days=days, ids=batch,
                                   now=now)
        result.deleted += purged.count
        result.batches += 1
        result.max_batch = max(result.max_batch, len(batch))
        if len(batch) < batch_size or not purged.count:
            break
    return Result(changed=result.as_changed(older_than_days=days))


@procedure("cleanup.recovery_runs", group=CLEANUP,
           description="Recovery run history older than RETENTION_RECOVERY_RUNS_DAYS.")
def cleanup_recovery_runs(now: datetime) -> Result:
    cut = retention_cut(now, "RETENTION_RECOVERY_RUNS_DAYS")
    old = RecoveryRun.objects.filter(started_at__lt=cut)
    return Result(changed=delete_in_batches(old).as_changed(before=cut.isoformat()))

