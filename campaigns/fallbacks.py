"""The seed's campaign fallbacks (ServiceErrorHandler.executeFallback), run by the guard.

Each returns a dict whose "result" is the seed's word: "rescheduled", "skipped",
"simplified", "stored_locally" ("queued" is resilience's `database.write`). The guard
carries it as `HandlingResult.fallback_result` (the decorator returns it), and a fallback
that raises is the seed's `{success: false}`: the guard records the entry's outcome FAILED.
"""

from datetime import timedelta

from django.utils import timezone

from campaigns.lifecycle import IllegalTransition
from campaigns.models import CampaignTimer, OutboxEvent
from resilience import conf
from resilience.handling.fallbacks import FallbackContext, register_fallback


@register_fallback("timer.execute")
def reschedule_timer(ctx: FallbackContext) -> dict:
    """The seed's fallbackTimerExecution: FAILED, retryCount = attemptCount + 1, retried
    after TIMER_FALLBACK_RETRY_DELAY_SECONDS (5 min) with "Execution failed, scheduled for
    retry"; recovery (timers.retry_failed) picks it up then.

    Beyond the seed: an illegal lifecycle transition gets no retry time (it would be just
    as illegal later) unless TIMER_FALLBACK_RETRY_ILLEGAL_TRANSITIONS.
    """
    from campaigns.timers import TIMER_FALLBACK_MESSAGE, timer_mark_failed

    timer_id = ctx.context["timer_id"]
    now = timezone.now()
    if (isinstance(ctx.error, IllegalTransition)
            and not conf.get("TIMER_FALLBACK_RETRY_ILLEGAL_TRANSITIONS")):
        if not timer_mark_failed(timer_id, ctx.error, now=now):
            raise LookupError(f"timer {timer_id} does not exist")
        return {"result": "not_rescheduled", "timer_id": timer_id, "reason": str(ctx.error)}
    retry_count = int(ctx.context.get("attempt_count") or 0) + 1
    next_retry = now + timedelta(seconds=conf.get("TIMER_FALLBACK_RETRY_DELAY_SECONDS"))
    message = TIMER_FALLBACK_MESSAGE
    if conf.get("TIMER_FALLBACK_ERROR_DETAIL"):
        message = f"{message}: {type(ctx.error).__name__}: {ctx.error}"[:2000]
    updated = CampaignTimer.objects.filter(pk=timer_id).update(
        status=CampaignTimer.Status.FAILED, retry_count=retry_count, next_retry_at=next_retry,
        error_message=message, updated_at=now,
    )
    if not updated:
        raise LookupError(f"timer {timer_id} does not exist")
    return {"result": "rescheduled", "timer_id": timer_id, "retry_count": retry_count,
            "next_retry_at": next_retry.isoformat()}


@register_fallback("campaign.update")
def update_campaign_essentials(ctx: FallbackContext) -> dict:
    """The seed's fallbackCampaignUpdate: a low-priority update (payload priority "low")
    is skipped; anything else is written simplified: only the status, and the time."""
    from campaigns.status_changes import campaign_update_essentials

    payload = ctx.payload if isinstance(ctx.payload, dict) else {}
    campaign_id = ctx.context["campaign_id"]
    if str(payload.get("priority", "")).lower() == "low":
        return {"result": "skipped", "campaign_id": campaign_id}
    campaign = campaign_update_essentials(campaign_id=campaign_id, status=payload.get("status"))
    return {"result": "simplified", "campaign_id": campaign.pk, "status": campaign.status}


@register_fallback("event.publish")
def store_event_locally(ctx: FallbackContext) -> dict:
    """The seed's fallbackEventPublish: the event bus is down, keep the event locally
    (OutboxEvent PENDING = the seed's pending_republish); recovery republishes it.

    Lifecycle events are written to the outbox before they are published
    (campaigns/outbox.py); for those (`outbox_event_id` in the context) the row already
    exists and stays PENDING, so nothing is written twice.
    """
    if ctx.context.get("outbox_event_id"):
        return {"result": "stored_locally", "outbox_event_id": ctx.context["outbox_event_id"]}
    event = OutboxEvent.objects.create(
        topic=ctx.context["topic"],
        payload=ctx.payload if isinstance(ctx.payload, dict) else {"value": ctx.payload},
    )
    return {"result": "stored_locally", "outbox_event_id": event.pk}
