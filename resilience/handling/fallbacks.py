"""The fallback registry: what the guard runs when an operation fails and may fall back.

Apps register their own in AppConfig.ready(); resilience registers `database.write`
(resilience/handling/builtin_fallbacks.py) and campaigns registers `timer.execute`,
`campaign.update` and `event.publish` (campaigns/fallbacks.py).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FallbackContext:
    operation: str
    error: BaseException
    context: Mapping[str, Any]
    payload: Any


Fallback = Callable[[FallbackContext], Any]

_registry: dict[str, Fallback] = {}


def register_fallback(operation: str) -> Callable[[Fallback], Fallback]:
    def decorator(func: Fallback) -> Fallback:
        _registry[operation] = func
        return func

    return decorator


def fallback_for(operation: str) -> Fallback | None:
    return _registry.get(operation)

