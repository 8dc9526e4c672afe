"""resilience's own fallback: a write the database refused is queued for later."""

from resilience.fallbacks import FallbackContext, register_fallback
from resilience.models import DeferredWrite


@register_fallback("database.write")
def queue_write_for_later(ctx: FallbackContext) -> dict:
    """Keep the write so a recovery run can apply it once the database takes writes again."""
    deferred = DeferredWrite.objects.create(
        operation=ctx.context.get("write", ctx.operation),
        payload=ctx.payload,
        context={k: v for k, v in ctx.context.items() if _is_json(v)},
        error=f"{type(ctx.error).__name__}: {ctx.error}"[:2000],
    )
    return {"deferred_write_id": deferred.pk}


def _is_json(value) -> bool:
    return isinstance(value, str | int | float | bool | type(None) | list | dict)
