"""The seed's campaign fallbacks, run by the guard when these operations fail."""

from django.utils import timezone

from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from resilience.fallbacks import FallbackContext, register_fallback

# What a campaign update keeps when only the essentials can be written.
ESSENTIAL_CAMPAIGN_FIELDS = ("status", "end_time")


@register_fallback("timer.execute")
def fail_timer_for_retry(ctx: FallbackContext) -> dict:
    """Mark the timer FAILED with a retry in 5 minutes (one more failure counted in
    retry_count); recovery picks it up then. An illegal lifecycle transition gets no retry
    time: it would be just as illegal later."""
    from campaigns.services import timer_mark_failed

    timer_id = ctx.context["timer_id"]
    if not timer_mark_failed(timer_id, ctx.error):
        raise LookupError(f"timer {timer_id} does not exist")
    retry_at = CampaignTimer.objects.filter(pk=timer_id).values_list("next_retry_at",
                                                                     flat=True).first()
    return {"timer_id": timer_id, "next_retry_at": retry_at.isoformat() if retry_at else None}


@register_fallback("campaign.update")
def update_essentials_only(ctx: FallbackContext) -> dict:
    """Skip a low-priority campaign's update; otherwise write only the essential fields."""
    campaign = Campaign.objects.get(pk=ctx.context["campaign_id"])
    if campaign.priority == Campaign.Priority.LOW:
        return {"campaign_id": campaign.pk, "skipped": True}
    updates = ctx.payload if isinstance(ctx.payload, dict) else {}
    essentials = {k: v for k, v in updates.items() if k in ESSENTIAL_CAMPAIGN_FIELDS}
    if essentials:
        Campaign.objects.filter(pk=campaign.pk).update(**essentials, updated_at=timezone.now())
    return {"campaign_id": campaign.pk, "skipped": False, "fields": sorted(essentials)}


@register_fallback("event.publish")
def store_event_for_republishing(ctx: FallbackContext) -> dict:
    """The event bus is down: keep the event locally; recovery republishes it in order.

    Lifecycle events are written to the outbox before they are published
    (campaigns/services.py); for those (`outbox_event_id` in the context) the row already
    exists and stays PENDING, so nothing is written twice.
    """
    if ctx.context.get("outbox_event_id"):
        return {"outbox_event_id": ctx.context["outbox_event_id"], "kept": True}
    event = OutboxEvent.objects.create(
        topic=ctx.context["topic"],
        payload=ctx.payload if isinstance(ctx.payload, dict) else {"value": ctx.payload},
    )
    return {"outbox_event_id": event.pk}
