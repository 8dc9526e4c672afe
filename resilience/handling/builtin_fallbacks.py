"""resilience's own fallback: a write the database refused is queued for later.

The seed's fallbackDatabaseWrite (`{success: true, result: 'queued'}`) publishes the write
to a `processing.queue` topic; here the queue is a DeferredWrite row, listed in the admin
and reported (never applied blindly) by recovery's `deferred_writes.report`. The guard
records the error before any fallback runs, so this only ever runs while the database
takes writes.
"""

from resilience.handling.fallbacks import FallbackContext, register_fallback
from resilience.models import DeferredWrite


@register_fallback("database.write")
def queue_write_for_later(ctx: FallbackContext) -> dict:
    """Keep the write for later processing (the seed's "queued"); an operator or the owning
    service applies it, since there is no generic way to."""
    deferred = DeferredWrite.objects.create(
        operation=ctx.context.get("write", ctx.operation),
        payload=ctx.payload,
        context={k: v for k, v in ctx.context.items() if _is_json(v)},
        error=f"{type(ctx.error).__name__}: {ctx.error}"[:2000],
    )
    return {"result": "queued", "deferred_write_id": deferred.pk}


def _is_json(value) -> bool:
    return isinstance(value, str | int | float | bool | type(None) | list | dict)
