"""Campaigns' recovery and clean-up procedures, registered with recovery's registry.

Imported by campaigns/apps.py (AppConfig.ready): campaigns builds on recovery, recovery
never imports campaigns. `after=` puts each in the run order the seed's AutoRecoveryManager
had (timers and overdue campaigns after the health checks, the outbox after them).
"""

from __future__ import annotations

from datetime import datetime

from campaigns.models import CampaignTimer, OutboxEvent
from campaigns.outbox import outbox_republish
from campaigns.status_changes import campaigns_complete_overdue
from campaigns.timer_recovery import timers_reclaim_stuck, timers_retry_failed
from campaigns.timers import timers_process_due
from recovery.cleanup import delete_in_batches, retention_cut
from recovery.registry import CLEANUP, RECOVERY, Result, ids, procedure
from resilience import conf

# --- recovery: campaign timers, overdue campaigns, the outbox ------------------------------------


@procedure("timers.reclaim_stuck", group=RECOVERY, after="health.broker",
           description="Timers RUNNING too long (5 min) → FAILED, retried later (2 min).")
def reclaim_stuck_timers(now: datetime) -> Result:
    return Result(changed={**ids(timers_reclaim_stuck(now=now)),
                           "stuck_seconds": conf.get("RECOVERY_TIMER_STUCK_SECONDS")})


@procedure("timers.retry_failed", group=RECOVERY, after="timers.reclaim_stuck",
           description="FAILED timers due for a retry → PENDING; past the limit, dead-lettered.")
def retry_failed_timers(now: datetime) -> Result:
    result = timers_retry_failed(now=now)
    return Result(changed={
        "retried": len(result.retried), **ids(result.retried, "retried_ids"),
        "dead_lettered": len(result.dead_lettered),
        **ids(result.dead_lettered, "dead_lettered_ids"),
        **ids(result.dead_letter_ids, "dead_letter_ids"),
        "max_retries": conf.get("RECOVERY_TIMER_MAX_RETRIES"),
    })


@procedure("timers.run_overdue", group=RECOVERY, after="timers.retry_failed",
           description="PENDING timers more than a minute overdue → executed now.")
def run_overdue_timers(now: datetime) -> Result:
    result = timers_process_due(now=now,
                                overdue_seconds=conf.get("RECOVERY_TIMER_OVERDUE_SECONDS"))
    if result.circuit_open:
        return Result("SKIPPED", {"reason": "the timer.execute circuit is open"})
    changed = {"executed": len(result.claimed)}
    for outcome, timer_ids in sorted(result.outcomes.items()):
        changed |= {outcome: len(timer_ids), **ids(timer_ids, f"{outcome}_ids")}
    return Result(changed=changed)


@procedure("campaigns.complete_overdue", group=RECOVERY, after="timers.run_overdue",
           description="RUNNING campaigns past their end (+5 min) with no end timer to come "
                       "→ COMPLETED.")
def complete_overdue_campaigns(now: datetime) -> Result:
    completed = campaigns_complete_overdue(now=now)
    return Result(changed={"completed": len(completed), **ids(completed),
                           "grace_seconds": conf.get("RECOVERY_CAMPAIGN_END_GRACE_SECONDS")})


@procedure("outbox.republish", group=RECOVERY, after="campaigns.complete_overdue",
           description="Lifecycle events kept in the outbox → published, in order.")
def republish_outbox(now: datetime) -> Result:
    result = outbox_republish()
    changed = {"published": len(result.published), **ids(result.published),
               "failed": len(result.failed), **ids(result.failed, "failed_ids"),
               "given_up": len(result.given_up), **ids(result.given_up, "given_up_ids"),
               "pending": result.pending}
    if result.outcome == "no_bus":
        return Result("SKIPPED", {**changed, "reason": "no event bus configured"})
    if result.outcome == "circuit_open":
        return Result("SKIPPED", {**changed, "reason": "the event.publish circuit is open"})
    if result.outcome == "busy":
        changed["stopped"] = "another process is publishing the oldest event"
    if result.outcome == "stopped":
        # The event stays (PENDING, or FAILED at the attempt limit); the next run goes on.
        return Result("FAILED", {**changed, "failed_id": result.failed_id}, error=result.error)
    # Not in order (RECOVERY_OUTBOX_KEEP_ORDER off): like the seed's recoverEventQueue, a
    # failed event is counted and passed over; the run itself succeeds.
    return Result(changed=changed)


# --- clean-up ------------------------------------------------------------------------------------


@procedure("cleanup.timers", group=CLEANUP, after="cleanup.groups",
           description="Completed campaign timers executed before RETENTION_TIMERS_DAYS.")
def cleanup_timers(now: datetime) -> Result:
    cut = retention_cut(now, "RETENTION_TIMERS_DAYS")
    old = CampaignTimer.objects.filter(status=CampaignTimer.Status.COMPLETED,
                                       executed_at__lt=cut)
    return Result(changed=delete_in_batches(old).as_changed(before=cut.isoformat()))


@procedure("cleanup.outbox", group=CLEANUP, after="cleanup.timers",
           description="Outbox events published before RETENTION_OUTBOX_DAYS.")
def cleanup_outbox(now: datetime) -> Result:
    cut = retention_cut(now, "RETENTION_OUTBOX_DAYS")
    old = OutboxEvent.objects.filter(status=OutboxEvent.Status.PUBLISHED, published_at__lt=cut)
    return Result(changed=delete_in_batches(old).as_changed(before=cut.isoformat()))
