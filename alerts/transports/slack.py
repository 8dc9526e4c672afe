"""Slack incoming webhooks (https://api.slack.com/messaging/webhooks).

Slack answers 200 "ok", or an error code in the body: 400 invalid_payload, 403
action_prohibited / invalid_token, 404 channel_not_found / no_service (the webhook was
removed), 410 channel_is_archived. A 404 or 410 will never work again, so the channel is
disabled with Slack's answer as the reason; other 4xx are not retried; 5xx, 429 and
connection errors are (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks).
"""

from __future__ import annotations

from typing import Any

from alerts.formatting import AlertContent, slack_payload
from alerts.transports import Sent, Transport
from alerts.transports.http import post_json
from resilience.outbound import calls as outbound

GONE = frozenset({404, 410})


class SlackTransport(Transport):
    def build(self, content: AlertContent) -> dict[str, Any]:
        return slack_payload(content)

    def send(self, message: dict[str, Any], *, now: float) -> Sent:
        body = outbound.json_bytes(message, compact=False)
        return post_json(self.channel.url, body, gone_statuses=GONE)
