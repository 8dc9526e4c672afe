"""The digest step: group accepted entries, count them, roll them up by the hour.

Runs on Celery in batches. Each batch is one transaction of a fixed number of bulk
statements, whatever its size: claim the pending entries (FOR UPDATE SKIP LOCKED, so two
workers never digest the same entry), find the groups and create the missing ones, mark
the entries and (when the batch has any) create the dead letters for entries whose
strategy is DEAD_LETTER; then lock and update the groups, record the environments and
releases they were seen in (seen.py), write their history, and upsert the hourly metrics
and their daily sums. Only that second part holds rows another digest run needs (the
groups, the rollups), so two runs at once take turns on it alone. A DEAD_LETTER
decision with nothing to replay makes no dead letter but marks its group "needs manual
intervention" (dead_letter_replayable); its alert is raised all the same. Once it has
committed, each entry is logged once, as the seed's ErrorLogger does (error_log.py).

The digest never stops on one row (issue 11: one stored 1 BC timestamp stopped grouping for
every service). The claim reads ids only; the rows are loaded and digested inside a
savepoint, and when that fails the batch is split in halves until the row that fails on
its own is found. That row is quarantined (entry_quarantine: marked with the reason, its
unreadable timestamp replaced by received_at) and everything else is digested. Connection
and lock failures are nobody's row: they abort the batch, which the next run retries.
"""

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from resilience import conf, signals
from resilience.core import error_log
from resilience.core.classification import SEVERITY_RANK, Severity
from resilience.core.group_state import status_after_events
from resilience.core.grouping import (
    Frame,
    ParsedLine,
    culprit,
    fingerprint,
    group_title,
    parse_stack_trace,
)
from resilience.core.strategy import Strategy
from resilience.dead_letters.services import dead_letter_for_entry, dead_letter_replayable
from resilience.digest.bulk import entries_mark_digested, rows_update
from resilience.digest.entries import DigestEntry, entries_load
from resilience.digest.quarantine import entry_quarantine
from resilience.digest.rollup_tiers import rollup_tiers_upsert
from resilience.digest.seen import SeenInBatch, seen_record
from resilience.digest.selectors import pending_entries
from resilience.models import (
    DeadLetter,
    ErrorGroup,
    ErrorLogEntry,
    ErrorMetric,
    GroupHistory,
)
from resilience.sentry.mapping import is_message_event

log = logging.getLogger(__name__)

GroupKey = tuple[int, str]  # (service_id, fingerprint)

@dataclass
class DigestResult:
    entries: int = 0
    groups_created: int = 0
    regressions: list[int] = field(default_factory=list)
    new_groups: list[int] = field(default_factory=list)
    dead_letters: int = 0
    # For alerting (alerts/hooks.py), one item per group or dead-lettered operation:
    # group id → [entries added, newest entry id]; group id → first IMMEDIATE_ALERT entry
    # id; (service id, operation) → [first DEAD_LETTER entry id, count].
    group_entries: dict[int, list[int]] = field(default_factory=dict)
    immediate_entries: dict[int, int] = field(default_factory=dict)
    dead_letter_entries: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    # Entries set aside because they could not be digested (see entry_quarantine).
    quarantined: list[int] = field(default_factory=list)

    def merge(self, part: "DigestResult") -> None:
        """Add a sub-batch's result (a batch split to isolate a failing row)."""
        self.entries += part.entries
        self.regressions += part.regressions
        self.new_groups += part.new_groups
        self.dead_letters += part.dead_letters
        self.quarantined += part.quarantined
        for group_id, (count, newest) in part.group_entries.items():
            seen = self.group_entries.setdefault(group_id, [0, newest])
            seen[0] += count
            seen[1] = max(seen[1], newest)
        for group_id, entry_id in part.immediate_entries.items():
            self.immediate_entries.setdefault(group_id, entry_id)
        for key, (first, count) in part.dead_letter_entries.items():
            seen = self.dead_letter_entries.setdefault(key, [first, 0])
            seen[0] = min(seen[0], first)
            seen[1] += count
        self.groups_created = len(self.new_groups)


@dataclass
class _Tally:
    """What one batch adds to one group."""

    first: DigestEntry
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    newest_received: datetime | None = None
    newest_received_by_release: dict[str, datetime] = field(default_factory=dict)
    severity: str = Severity.LOW.value
    seen: SeenInBatch = field(default_factory=SeenInBatch)
    # A DEAD_LETTER decision with nothing to replay: no dead letter, the group is marked.
    needs_manual_intervention: bool = False
    unhandled: bool = False  # any event the SDK reported as not handled

    def add(self, entry: DigestEntry) -> None:
        self.count += 1
        self.seen.add(environment=entry.environment, release=entry.release, at=entry.timestamp)
        self.unhandled = self.unhandled or entry_unhandled(entry)
        self.first_seen = min(filter(None, (self.first_seen, entry.timestamp)))
        self.last_seen = max(filter(None, (self.last_seen, entry.timestamp)))
        self.newest_received = max(filter(None, (self.newest_received, entry.received_at)))
        by_release = self.newest_received_by_release
        by_release[entry.release] = max(
            filter(None, (by_release.get(entry.release), entry.received_at))
        )
        if SEVERITY_RANK[Severity(entry.severity)] > SEVERITY_RANK[Severity(self.severity)]:
            self.severity = entry.severity


def entry_frames(entry: ErrorLogEntry | DigestEntry, *, memo: dict[str, ParsedLine] | None = None
                 ) -> list[Frame]:
    """Structured frames when the reporter sent them (Sentry), else parsed from the text
    (`memo`: the batch's trace lines already read, see parse_stack_trace)."""
    frames = (entry.extra or {}).get("frames")
    if isinstance(frames, list):
        return [
            Frame(
                module=str(f.get("module") or ""),
                function=str(f.get("function") or ""),
                filename=str(f.get("filename") or ""),
                in_app=bool(f.get("in_app", True)),
            )
            for f in frames
            if isinstance(f, dict)
        ]
    return parse_stack_trace(entry.stack_trace or "", memo=memo)


def entry_unhandled(entry: DigestEntry) -> bool:
    """The SDK said the application did not handle it (sentry/mapping.py: `unhandled`)."""
    return (entry.extra or {}).get("unhandled") is True


def entry_fingerprint(entry: DigestEntry, frames: Sequence[Frame]) -> str:
    custom = entry.fingerprint if isinstance(entry.fingerprint, list) else None
    return fingerprint(
        custom=custom,
        name=entry.name or None,
        code=entry.code or None,
        operation=entry.operation or None,
        # A log record's template (Sentry's logentry.message), else the message itself.
        message=(entry.extra or {}).get("message_template") or entry.message or None,
        frames=frames,
    )


def _claim_ids(limit: int) -> list[int]:
    """Lock up to `limit` pending entries, reading nothing but their ids: a row whose
    values cannot be decoded must not fail the claim, or no batch could ever start."""
    qs = pending_entries().order_by("id").values_list("id", flat=True)
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True)
    return list(qs[:limit])


def _new_group(key: GroupKey, tally: _Tally, frames: Sequence[Frame]) -> ErrorGroup:
    entry = tally.first
    return ErrorGroup(
        service_id=key[0],
        fingerprint=key[1],
        title=group_title(name=entry.name or None, code=entry.code or None, message=entry.message,
                          message_only=is_message_event(entry.extra)),
        culprit=culprit(frames, entry.operation or None),
        name=entry.name,
        code=entry.code,
        operation=entry.operation,
        environment=entry.environment,
        category=entry.category,
        severity=tally.severity,
        unhandled=tally.unhandled,
        times_seen=0,
        first_seen=tally.first_seen,
        last_seen=tally.last_seen,
    )


class GroupGone(Exception):
    """A group the batch counts into was deleted while the batch ran: nobody's row, so the
    batch is rolled back and the next run digests it (into a new group)."""


def _group_ids(keys: Iterable[GroupKey]) -> dict[GroupKey, int]:
    """The ids of these groups, read without locking them (a plain read waits for no one)."""
    by_service: dict[int, list[str]] = {}
    for service_id, fp in keys:
        by_service.setdefault(service_id, []).append(fp)
    condition = Q()
    for service_id, fps in by_service.items():
        condition |= Q(service_id=service_id, fingerprint__in=fps)
    rows = ErrorGroup.objects.filter(condition).order_by().values_list(
        "service_id", "fingerprint", "id")
    return {(service_id, fp): pk for service_id, fp, pk in rows}


def _groups_find_or_create(tallies: dict[GroupKey, "_Tally"],
                           frames_of: dict[GroupKey, list[Frame]]) -> dict[GroupKey, int]:
    """Each key's group id, creating the groups that do not exist yet. Only the missing
    ones are inserted: an INSERT … ON CONFLICT over a group another digest run has updated
    and not yet committed waits for that run, a plain read does not."""
    ids = _group_ids(tallies)
    missing = sorted(key for key in tallies if key not in ids)  # one order: no crossed waits
    if missing:
        ErrorGroup.objects.bulk_create(
            [_new_group(key, tallies[key], frames_of[key]) for key in missing],
            ignore_conflicts=True,
        )
        ids |= _group_ids(missing)  # ours, or another run's that committed first
    if len(ids) < len(tallies):
        raise GroupGone("a group was deleted while the batch was being digested")
    return ids


def _lock_groups(ids: dict[GroupKey, int]) -> dict[GroupKey, ErrorGroup]:
    """Lock the batch's groups for its counts. Another digest run counting into one of them
    waits here until this batch commits, so what follows the lock is kept short.

    FOR NO KEY UPDATE, the lock an UPDATE of the groups takes anyway: rows that only refer to
    a group (this batch's entries at commit, another run's history rows) are not held up."""
    # Locked in id order so that two digest workers cannot deadlock on each other.
    groups = (ErrorGroup.objects.select_for_update(no_key=True)
              .filter(pk__in=sorted(ids.values())).order_by("id"))
    locked = {(g.service_id, g.fingerprint): g for g in groups}
    if len(locked) < len(ids):
        raise GroupGone("a group was deleted while the batch was being digested")
    return locked


def _apply(group: ErrorGroup, tally: _Tally, now: datetime) -> str | None:
    """Add a batch's tally to a locked group; returns the history event, if any."""
    group.times_seen += tally.count
    group.first_seen = min(group.first_seen, tally.first_seen)
    group.last_seen = max(group.last_seen, tally.last_seen)
    group.unhandled = group.unhandled or tally.unhandled
    if SEVERITY_RANK[Severity(tally.severity)] > SEVERITY_RANK[Severity(group.severity)]:
        group.severity = tally.severity
    change = status_after_events(
        status=group.status,
        resolved_at=group.resolved_at,
        muted_until=group.muted_until,
        newest_received_at=tally.newest_received,
        now=now,
        resolved_in_release=group.resolved_in_release,
        newest_received_by_release=tally.newest_received_by_release,
        muted_until_times_seen=group.muted_until_times_seen,
        times_seen=group.times_seen,
    )
    group.status = change.status
    if change.event == "REGRESSED":
        group.regression_count += 1
        group.resolved_at = None
        group.resolved_by = None
        group.resolved_in_release = None
    if change.event == "UNMUTED":
        group.muted_until = None
        group.muted_until_times_seen = None
    if tally.needs_manual_intervention:
        group.needs_manual_intervention = True
    return change.event


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _upsert_metrics(entries: Sequence[ErrorLogEntry]) -> None:
    # The hour rows first, then the tiers that sum them: metric_days_rebuild relies on that
    # order (rollup_days.py).
    _upsert_rollup(ErrorMetric, _hour, entries)
    rollup_tiers_upsert(entries)


def _upsert_rollup(model, bucket_of, entries: Sequence[ErrorLogEntry]) -> None:
    rows: dict[tuple, list] = {}
    for e in entries:
        key = (bucket_of(e.timestamp), e.service_id, e.group_id, e.environment, e.category,
               e.severity, e.code, e.strategy)
        row = rows.setdefault(key, [0, e.timestamp, 0, 0])
        row[0] += 1
        row[1] = max(row[1], e.timestamp)
        row[2] += e.outcome == ErrorLogEntry.Outcome.SUCCEEDED
        row[3] += e.outcome == ErrorLogEntry.Outcome.FAILED
    table = model._meta.db_table
    columns = "bucket, service_id, group_id, environment, category, severity, code, strategy"
    # Sorted so concurrent digests take the same row locks in the same order.
    ordered = sorted(rows.items(), key=lambda item: tuple(str(part) for part in item[0]))
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"]
                               * len(chunk))
            params: list = []
            # Adapted as the ORM would (SQLite stores naive UTC text), so that ORM filters
            # and the outcome UPDATE compare buckets in the same format.
            adapt = connection.ops.adapt_datetimefield_value
            for (bucket, *key), (count, last_seen, succeeded, failed) in chunk:
                params.extend([adapt(bucket), *key, count, adapt(last_seen), succeeded, failed])
            cursor.execute(
                f"INSERT INTO {table} ({columns}, count, last_seen, succeeded, failed) "
                f"VALUES {values} "
                f"ON CONFLICT ({columns}) DO UPDATE SET "
                f"count = {table}.count + excluded.count, "
                f"succeeded = {table}.succeeded + excluded.succeeded, "
                f"failed = {table}.failed + excluded.failed, "
                f"last_seen = CASE WHEN excluded.last_seen > {table}.last_seen "
                f"THEN excluded.last_seen ELSE {table}.last_seen END",
                params,
            )


def digest_batch(*, limit: int, now: datetime | None = None) -> DigestResult:
    """Digest up to `limit` pending entries in one transaction; a row that cannot be
    digested is quarantined and the others are digested all the same."""
    now = now or timezone.now()
    result = DigestResult()
    with transaction.atomic():
        ids = _claim_ids(limit)
        if not ids:
            return result
        entries: list[DigestEntry] = []
        _digest_isolating(ids, now, result, entries)
        if entries:
            transaction.on_commit(partial(_alerts_after_commit, result))
            # robust: a failure to log must never fail the digest that already committed.
            transaction.on_commit(partial(_log_after_commit, entries), robust=True)
    return result


# Failures that say nothing about the rows (connection lost, lock timeout, deadlock,
# serialization, a group deleted meanwhile): the whole batch is rolled back and retried by
# the next run.
_NOT_THE_ROWS = (OperationalError, InterfaceError, GroupGone)


def _digest_isolating(
    ids: Sequence[int], now: datetime, result: DigestResult, entries: list[DigestEntry]
) -> None:
    """Digest `ids` in a savepoint; if that fails, halve and retry until the failing row
    stands alone, then quarantine it. One bad row in 1,000 costs about 20 small batches."""
    try:
        with transaction.atomic():
            part, digested = _digest(ids, now)
    except _NOT_THE_ROWS:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a row's own is isolated below
        if len(ids) == 1:
            log.warning("entry %s cannot be digested and is quarantined: %r", ids[0], exc)
            entry_quarantine(entry_id=ids[0], reason=f"{exc.__class__.__name__}: {exc}",
                             now=now)
            result.quarantined.append(ids[0])
            return
        middle = len(ids) // 2
        _digest_isolating(ids[:middle], now, result, entries)
        _digest_isolating(ids[middle:], now, result, entries)
        return
    result.merge(part)
    entries.extend(digested)


def _digest(ids: Sequence[int], now: datetime) -> tuple[DigestResult, list[DigestEntry]]:
    """Load and digest claimed entries: the fixed set of bulk statements."""
    result = DigestResult()
    entries = entries_load(ids)
    tallies: dict[GroupKey, _Tally] = {}
    frames_of: dict[GroupKey, list[Frame]] = {}
    keys: list[GroupKey] = []
    dead: list[DeadLetter] = []
    lines: dict[str, ParsedLine] = {}  # one failure's traces repeat their frame lines
    for entry in entries:
        frames = entry_frames(entry, memo=lines)
        key = (entry.service_id, entry_fingerprint(entry, frames))
        keys.append(key)
        if key not in tallies:
            tallies[key] = _Tally(first=entry)
            frames_of[key] = frames
        tallies[key].add(entry)
        if entry.strategy == Strategy.DEAD_LETTER:
            if dead_letter_replayable(operation=entry.operation,
                                      payload=entry.dead_letter_payload):
                dead.append(dead_letter_for_entry(entry, payload=entry.dead_letter_payload))
            else:
                tallies[key].needs_manual_intervention = True

    group_ids = _groups_find_or_create(tallies, frames_of)
    # The entries and the dead letters are this batch's own rows (claimed, or new): written
    # before the groups are locked, the batch's two longest statements stay out of the
    # part that two digest runs must take in turn.
    for entry, key in zip(entries, keys, strict=True):
        entry.group_id = group_ids[key]
        entry.digested_at = now
        _note_for_alerts(result, entry)
    entries_mark_digested([(entry.pk, entry.group_id) for entry in entries], at=now)
    if dead:
        # One INSERT; the one-to-one on the entry makes a re-digest a no-op.
        DeadLetter.objects.bulk_create(dead, ignore_conflicts=True)

    groups = _lock_groups(group_ids)
    releases = seen_record({groups[key].pk: tally.seen for key, tally in tallies.items()})
    history = []
    for key, tally in tallies.items():
        group = groups[key]
        if group.times_seen == 0:
            result.new_groups.append(group.pk)
        event = _apply(group, tally, now)
        first_release, last_release = releases.get(group.pk, ("", ""))
        group.first_release = group.first_release or first_release
        group.last_release = last_release or group.last_release
        if event:
            history.append(GroupHistory(group=group, action=event, via="system", at=now))
            if event == "REGRESSED":
                result.regressions.append(group.pk)
    rows_update(
        list(groups.values()),
        ["times_seen", "first_seen", "last_seen", "severity", "status", "regression_count",
         "resolved_at", "resolved_by", "muted_until", "resolved_in_release",
         "muted_until_times_seen", "first_release", "last_release",
         "needs_manual_intervention", "unhandled"],
    )
    GroupHistory.objects.bulk_create(history)
    _upsert_metrics(entries)
    result.dead_letters = len(dead)
    result.entries = len(entries)
    result.groups_created = len(result.new_groups)
    return result, entries


def _note_for_alerts(result: DigestResult, entry: DigestEntry) -> None:
    seen = result.group_entries.setdefault(entry.group_id, [0, entry.pk])
    seen[0] += 1
    seen[1] = max(seen[1], entry.pk)
    if entry.strategy == Strategy.IMMEDIATE_ALERT:
        result.immediate_entries.setdefault(entry.group_id, entry.pk)
    elif entry.strategy == Strategy.DEAD_LETTER:
        result.dead_letter_entries.setdefault((entry.service_id, entry.operation), [entry.pk, 0])
        result.dead_letter_entries[(entry.service_id, entry.operation)][1] += 1


def _alerts_after_commit(result: DigestResult) -> None:
    # alerts' receiver queues one evaluation on the "alerts" queue; nothing is sent here.
    signals.announce(signals.digest_committed, result=result)


# --- the seed's ErrorLogger output, after commit (formatting: resilience/core/error_log.py) ---

errors_logger = logging.getLogger(error_log.LOGGER_NAME)


def _logged_code(entry: DigestEntry) -> str:
    # The code the classifier went by: the seed's extractErrorCode.
    return entry.classified_code or entry.code or entry.name


def _logged(entry: DigestEntry) -> error_log.LoggedError:
    return error_log.LoggedError(
        id=entry.pk,
        event_id=entry.event_id,
        service_id=entry.service_id,
        timestamp=entry.timestamp,
        severity=entry.severity,
        category=entry.category,
        code=_logged_code(entry),
        message=entry.message,
        operation=entry.operation,
        campaign_id=entry.campaign_id,
        stack_trace=entry.stack_trace,
    )


def _log_after_commit(entries: Sequence[DigestEntry]) -> None:
    """Each digested entry once on `faultline.errors` at its severity's level; CRITICAL
    ones also appended to ERROR_CRITICAL_LOG_PATH."""
    # The records are what errors_logger.log() makes, handed to the same handlers and
    # filters; the caller it would look up frame by frame for every record (the file, line
    # and function a format may show) is looked up once for the batch.
    caller = errors_logger.findCaller()[:3]
    enabled = {level: errors_logger.isEnabledFor(level) for level in error_log.LEVELS.values()}
    name = errors_logger.name
    for entry in entries:
        level = error_log.level_of(entry.severity)
        if enabled[level]:
            text = error_log.text_of(entry.timestamp, entry.severity, entry.category,
                                     _logged_code(entry), entry.message, entry.campaign_id,
                                     entry.stack_trace)
            errors_logger.handle(errors_logger.makeRecord(
                name, level, caller[0], caller[1], "%s", (text,), None, caller[2]))
    text = error_log.critical_lines(
        _logged(entry) for entry in entries if entry.severity == error_log.CRITICAL)
    path = conf.get("ERROR_CRITICAL_LOG_PATH")
    if text and path:
        _append(Path(settings.BASE_DIR) / path, text)  # an absolute path stays as it is


def _append(path: Path, text: str) -> None:
    # One write() in O_APPEND mode: concurrent digest workers' lines do not interleave.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        errors_logger.error("could not append to the critical error log %s: %r", path, exc)

