"""Per-key budgets as a DRF throttle, for views that say what a call spends.

A view opts in with `budget_scope = "dead_letters"` (or "circuit_calls"); each write
(POST, PUT, PATCH, DELETE) made with a service key then costs one from that key's budget
for the minute, before the body is read. Reads and operators are not counted. The native
ingest view counts its reports itself (a batch costs its length).
"""

from rest_framework.exceptions import Throttled
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from resilience.api.authentication import service_key_of
from resilience.ingest.rate_limits import budget_clock, key_budget_consume, key_budget_message


class KeyBudgetThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "budget_scope", None)
        key = service_key_of(request)
        if scope is None or key is None or request.method in SAFE_METHODS:
            return True
        retry_after = key_budget_consume(key=key, scope=scope, now=budget_clock())
        if retry_after is not None:
            # Raised here rather than returning False, so the answer says which budget.
            raise Throttled(wait=retry_after,
                            detail=key_budget_message(key=key, scope=scope).capitalize() + ".")
        return True
