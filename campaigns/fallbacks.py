"""The seed's campaign fallbacks, run by the guard when these operations fail."""

from datetime import timedelta

from django.utils import timezone

from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from resilience.fallbacks import FallbackContext, register_fallback

TIMER_RETRY_DELAY = timedelta(minutes=5)
# What a campaign update keeps when only the essentials can be written.
ESSENTIAL_CAMPAIGN_FIELDS = ("status", "end_time")


@register_fallback("timer.execute")
def fail_timer_for_retry(ctx: FallbackContext) -> dict:
    """Mark the timer FAILED with a retry in 5 minutes; recovery picks it up then."""
    timer_id = ctx.context["timer_id"]
    retry_at = timezone.now() + TIMER_RETRY_DELAY
    updated = CampaignTimer.objects.filter(pk=timer_id).update(
        status=CampaignTimer.Status.FAILED,
        next_retry_at=retry_at,
        error_message=f"{type(ctx.error).__name__}: {ctx.error}"[:2000],
        updated_at=timezone.now(),
    )
    if not updated:
        raise LookupError(f"timer {timer_id} does not exist")
    return {"timer_id": timer_id, "next_retry_at": retry_at.isoformat()}


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
    """The event bus is down: keep the event locally; recovery republishes it in order."""
    event = OutboxEvent.objects.create(
        topic=ctx.context["topic"],
        payload=ctx.payload if isinstance(ctx.payload, dict) else {"value": ctx.payload},
    )
    return {"outbox_event_id": event.pk}
