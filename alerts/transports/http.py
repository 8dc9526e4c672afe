"""Slack and webhooks both POST JSON through resilience.outbound.calls (the one seam)."""

from __future__ import annotations

from collections.abc import Mapping

from alerts.transports import Sent, TransportError
from resilience import conf
from resilience.outbound import calls as outbound


def post_json(url: str, body: bytes, *, headers: Mapping[str, str] | None = None,
              gone_statuses: frozenset[int] = frozenset()) -> Sent:
    """POST; map OutboundError to TransportError. A status in ``gone_statuses`` disables
    the channel (the URL no longer exists)."""
    try:
        result = outbound.post(url, body, headers=headers,
                               timeout=conf.get("ALERT_HTTP_TIMEOUT_SECONDS"))
    except outbound.OutboundError as exc:
        message = exc.message
        if exc.body_excerpt:
            message = f"{message}: {exc.body_excerpt[:200]}"
        raise TransportError(
            message, permanent=exc.permanent, status_code=exc.status,
            duration_ms=exc.duration_ms, disable=exc.status in gone_statuses,
        ) from None
    return Sent(status_code=result.status, duration_ms=result.duration_ms)
