"""Generic webhooks: the alert as versioned JSON, signed like dead-letter replays.

Headers: ``X-Faultline-Timestamp`` (Unix seconds) and ``X-Faultline-Signature:
v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`` (resilience/core/signing.py), plus
``X-Faultline-Alert-Id`` and ``X-Faultline-Group-Key``: the body's ``group_key``
percent-encoded as UTF-8 (``urllib.parse.unquote`` gives it back). The key holds a
reporter's operation name, and a CR/LF or non-Latin-1 character in a raw header would fail
the delivery. A 404 or 410 disables the channel.
"""

from __future__ import annotations

from typing import Any

from alerts.formatting import AlertContent, webhook_payload
from alerts.transports import Sent, Transport, TransportError
from alerts.transports.http import post_json
from resilience.core import signing
from resilience.outbound import calls as outbound

GONE = frozenset({404, 410})


class WebhookTransport(Transport):
    def build(self, content: AlertContent) -> dict[str, Any]:
        return webhook_payload(content)

    def send(self, message: dict[str, Any], *, now: float) -> Sent:
        if not self.channel.secret:
            raise TransportError("no signing secret", permanent=True)
        body = outbound.json_bytes(message)
        headers = signing.sign(self.channel.secret, body, timestamp=int(now))
        headers["X-Faultline-Alert-Id"] = str(message.get("alert_id") or "")
        headers["X-Faultline-Group-Key"] = outbound.header_quote(message.get("group_key") or "")
        return post_json(self.channel.url, body, headers=headers, gone_statuses=GONE)
