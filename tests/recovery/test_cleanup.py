"""Clean-up: every retention, in bounded batches, rollups untouched."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from recovery import cleanup
from recovery.models import RecoveryRun
from recovery.services import procedure_run
from resilience.models import AuditEvent, DeadLetter, ErrorGroup, ErrorLogEntry, ErrorMetric
from tests.factories import DeadLetterFactory, ErrorGroupFactory, ErrorLogEntryFactory

DAY = timedelta(days=1)


def entry(group, age, **kwargs):
    at = timezone.now() - age
    return ErrorLogEntryFactory(service=group.service, group=group, timestamp=at,
                                digested_at=at, **kwargs)


def metric(group, age, count=1):
    bucket = (timezone.now() - age).replace(minute=0, second=0, microsecond=0)
    return ErrorMetric.objects.create(bucket=bucket, service=group.service, group=group,
                                      category="TRANSIENT", severity="LOW", strategy="RETRY",
                                      count=count, last_seen=bucket)


def test_entries_past_retention_go_and_their_rollups_stay(db, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "RETENTION_BATCH_SIZE": 2}
    group = ErrorGroupFactory()
    old = [entry(group, 31 * DAY) for _ in range(5)]
    kept = entry(group, 29 * DAY)
    undigested = ErrorLogEntryFactory(service=group.service, timestamp=timezone.now() - 40 * DAY)
    letter = DeadLetterFactory(service=group.service, entry=old[0])
    rollup = metric(group, 31 * DAY, count=5)
    run = procedure_run("cleanup.entries")
    assert run.outcome == "SUCCEEDED"
    assert (run.changed["deleted"], run.changed["batches"], run.changed["max_batch"]) == (5, 3, 2)
    assert set(ErrorLogEntry.objects.values_list("id", flat=True)) == {kept.pk, undigested.pk}
    letter.refresh_from_db()
    assert letter.entry_id is None  # SET_NULL, as the foreign key says
    rollup.refresh_from_db()
    assert rollup.count == 5


def test_rollups_go_after_their_own_retention(db):
    group = ErrorGroupFactory()
    old, kept = metric(group, 401 * DAY), metric(group, 399 * DAY)
    run = procedure_run("cleanup.metrics")
    assert run.changed["deleted"] == 1
    assert list(ErrorMetric.objects.values_list("id", flat=True)) == [kept.pk]
    assert old.pk not in ErrorMetric.objects.values_list("id", flat=True)


def test_rollups_of_every_tier_go_by_whole_utc_days(db, settings):
    from resilience.core.rollup_days import day_floor
    from resilience.digest.rollup_days import metric_day_rebuild
    from resilience.models import MetricDayGroup, MetricDayTotal, MetricHourTotal

    settings.FAULTLINE = {**settings.FAULTLINE, "RETENTION_BATCH_SIZE": 2}
    now = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    cut_day = day_floor(now - 400 * DAY)  # 2025-10-26: its hours stay with its day rows
    group = ErrorGroupFactory()
    buckets = (cut_day - 3 * DAY, cut_day - timedelta(hours=1), cut_day - timedelta(hours=2),
               cut_day, cut_day + timedelta(hours=12))
    for bucket in buckets:
        ErrorMetric.objects.create(bucket=bucket, service=group.service, group=group,
                                   category="TRANSIENT", severity="LOW", strategy="RETRY",
                                   count=1, last_seen=bucket)
    for day in {day_floor(bucket) for bucket in buckets}:
        metric_day_rebuild(day)  # the tiers, as the digest would have written them
    changed = cleanup.cleanup_metrics(now).changed
    assert (changed["deleted"], changed["hour_totals_deleted"], changed["day_totals_deleted"],
            changed["day_groups_deleted"]) == (3, 3, 2, 2)
    assert sorted(ErrorMetric.objects.values_list("bucket", flat=True)) == [
        cut_day, cut_day + timedelta(hours=12)]
    assert sorted(MetricHourTotal.objects.values_list("bucket", flat=True)) == [
        cut_day, cut_day + timedelta(hours=12)]
    for model in (MetricDayTotal, MetricDayGroup):
        assert list(model.objects.values_list("bucket", flat=True)) == [cut_day]


def test_only_empty_settled_long_gone_groups_are_removed(db):
    now = timezone.now()
    gone = ErrorGroupFactory(status="RESOLVED", last_seen=now - 401 * DAY)
    still_open = ErrorGroupFactory(status="OPEN", last_seen=now - 401 * DAY)
    with_entry = ErrorGroupFactory(status="RESOLVED", last_seen=now - 401 * DAY)
    ErrorLogEntryFactory(service=with_entry.service, group=with_entry)
    with_rollup = ErrorGroupFactory(status="MUTED", last_seen=now - 401 * DAY)
    metric(with_rollup, 1 * DAY)
    recent = ErrorGroupFactory(status="RESOLVED", last_seen=now - 100 * DAY)
    run = procedure_run("cleanup.groups")
    assert run.changed["deleted"] == 1
    assert not ErrorGroup.objects.filter(pk=gone.pk).exists()
    assert ErrorGroup.objects.filter(
        pk__in=[still_open.pk, with_entry.pk, with_rollup.pk, recent.pk]).count() == 4


def test_completed_timers_published_events_and_old_runs_go(db):
    now = timezone.now()
    campaign = Campaign.objects.create(name="c")
    old_timer = CampaignTimer.objects.create(campaign=campaign, type="campaign.start",
                                             scheduled_at=now, status="COMPLETED",
                                             executed_at=now - 8 * DAY)
    failed = CampaignTimer.objects.create(campaign=campaign, type="campaign.end",
                                          scheduled_at=now - 9 * DAY, status="FAILED")
    published = OutboxEvent.objects.create(topic="t", status="PUBLISHED",
                                           published_at=now - 8 * DAY)
    pending = OutboxEvent.objects.create(topic="t", created_at=now - 30 * DAY)
    old_run = RecoveryRun.objects.create(procedure="x", outcome="SUCCEEDED",
                                         started_at=now - 91 * DAY)
    assert procedure_run("cleanup.timers").changed["deleted"] == 1
    assert procedure_run("cleanup.outbox").changed["deleted"] == 1
    assert procedure_run("cleanup.recovery_runs").changed["deleted"] == 1
    assert list(CampaignTimer.objects.values_list("id", flat=True)) == [failed.pk]
    assert list(OutboxEvent.objects.values_list("id", flat=True)) == [pending.pk]
    assert not RecoveryRun.objects.filter(pk=old_run.pk).exists()
    assert not CampaignTimer.objects.filter(pk=old_timer.pk).exists()
    assert not OutboxEvent.objects.filter(pk=published.pk).exists()


def test_an_orphaned_timer_cannot_exist(postgres):
    # The seed's recoverOrphanedData deletes timers whose campaign is gone. Here the
    # foreign key rules them out: a campaign's timers go with it, and PostgreSQL refuses
    # a timer that points at no campaign. There is nothing for a procedure to collect.
    from django.db import IntegrityError, transaction

    campaign = Campaign.objects.create(name="c")
    CampaignTimer.objects.create(campaign=campaign, type="campaign.start",
                                 scheduled_at=timezone.now())
    campaign.delete()
    assert not CampaignTimer.objects.exists()
    table = CampaignTimer._meta.db_table
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"INSERT INTO {table} (campaign_id, type, scheduled_at, status, "
                       "retry_count, error_message, updated_at) "
                       "VALUES (999999, 'campaign.start', now(), 'PENDING', 0, '', now())")


def test_completed_timers_are_kept_for_seven_days(db):
    now = timezone.now()
    campaign = Campaign.objects.create(name="c")
    recent = CampaignTimer.objects.create(campaign=campaign, type="campaign.start",
                                          scheduled_at=now, status="COMPLETED",
                                          executed_at=now - 6 * DAY)
    run = procedure_run("cleanup.timers")
    assert run.changed["deleted"] == 0
    assert run.changed["before"] == (run.started_at - 7 * DAY).isoformat()
    assert CampaignTimer.objects.filter(pk=recent.pk).exists()


def test_settled_dead_letters_are_purged_through_the_audited_purge(db):
    now = timezone.now()
    replayed = DeadLetterFactory(status="REPLAYED", replayed_at=now - 31 * DAY)
    discarded = DeadLetterFactory(status="DISCARDED", discarded_at=now - 31 * DAY)
    recent = DeadLetterFactory(status="REPLAYED", replayed_at=now - 1 * DAY)
    failed = DeadLetterFactory(status="FAILED", created_at=now - 100 * DAY)
    run = procedure_run("cleanup.dead_letters")
    assert run.changed["deleted"] == 2
    assert set(DeadLetter.objects.values_list("id", flat=True)) == {recent.pk, failed.pk}
    audit = AuditEvent.objects.get(action="dead_letter.purge")
    assert audit.via == "system" and sorted(audit.detail["ids"]) == sorted(
        [replayed.pk, discarded.pk])


def test_a_protected_row_is_kept_and_the_rest_deleted(db):
    from django.db import models

    group = ErrorGroupFactory()
    entries = [entry(group, 31 * DAY) for _ in range(3)]
    letter = DeadLetterFactory(service=group.service, entry=entries[1])
    rel = DeadLetter._meta.get_field("entry").remote_field
    original = rel.on_delete
    rel.on_delete = models.PROTECT
    try:
        result = cleanup.delete_in_batches(ErrorLogEntry.objects.all(), batch_size=10)
    finally:
        rel.on_delete = original
    assert (result.deleted, result.kept) == (2, 1)
    assert list(ErrorLogEntry.objects.values_list("id", flat=True)) == [letter.entry_id]


def _bulk_old_entries(service_id: int, group_id: int, n: int, days_old: int) -> None:
    """n digested entries, days_old days ago, one SQL statement (generate_series)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO resilience_errorlogentry (
                service_id, group_id, event_id, source, received_at, timestamp, digested_at,
                category, severity, retryable, recoverable, strategy, classification,
                code, name, message, stack_trace, operation, component, campaign_id,
                timer_id, user_id, attempt_count, environment, release, context, extra,
                errno, outcome, quarantine_reason)
            SELECT %s, %s, md5(random()::text || g::text), 'api', t, t, t, 'TRANSIENT',
                   'LOW', true, true, 'RETRY', '{}', 'ETIMEDOUT', 'TimeoutError', 'timed out', '',
                   'payment.charge', '', '', '', '', 0, '', '', '{}', '{}', '', '', ''
            FROM generate_series(1, %s) AS g,
                 LATERAL (SELECT now() - make_interval(days => %s, secs => g) AS t) AS ts
            """,
            [service_id, group_id, n, days_old],
        )


def test_twenty_thousand_old_entries_go_in_bounded_batches_with_rollups_intact(
    postgres, settings
):
    settings.FAULTLINE = {**settings.FAULTLINE, "RETENTION_BATCH_SIZE": 1000}
    group = ErrorGroupFactory()
    _bulk_old_entries(group.service_id, group.pk, 20_000, days_old=35)
    _bulk_old_entries(group.service_id, group.pk, 500, days_old=3)
    rollups = [metric(group, 35 * DAY, count=20_000), metric(group, 3 * DAY, count=500)]
    batches = []

    real_delete_ids = cleanup.delete_ids

    def spy(model, ids):
        batches.append(len(ids))
        return real_delete_ids(model, ids)

    cleanup.delete_ids = spy
    try:
        run = procedure_run("cleanup.entries")
    finally:
        cleanup.delete_ids = real_delete_ids
    assert run.outcome == "SUCCEEDED"
    assert run.changed["deleted"] == 20_000
    assert run.changed["batches"] == 20 and run.changed["max_batch"] == 1000
    assert batches == [1000] * 20  # never more than a batch per statement
    assert ErrorLogEntry.objects.count() == 500
    assert [ErrorMetric.objects.get(pk=r.pk).count for r in rollups] == [20_000, 500]
    assert ErrorGroup.objects.filter(pk=group.pk).exists()


@pytest.mark.parametrize("name", ["cleanup.entries", "cleanup.metrics", "cleanup.groups",
                                  "cleanup.timers", "cleanup.outbox", "cleanup.dead_letters",
                                  "cleanup.recovery_runs", "cleanup.attachments",
                                  "cleanup.check_ins"])
def test_an_empty_database_is_a_quiet_success(db, name):
    run = procedure_run(name)
    assert run.outcome == "SUCCEEDED" and run.changed["deleted"] == 0
