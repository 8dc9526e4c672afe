"""The lifecycle event bus: a Redis stream per topic family, so consumers can catch up.

`event_publish("lifecycle.campaign.started", {...}, event_id="42")` appends one entry to the
stream `<EVENT_BUS_STREAM_PREFIX>:events:lifecycle` (XADD … MAXLEN ~ EVENT_BUS_MAXLEN) with
the fields `topic`, `event_id` (the OutboxEvent id: delivery is at least once, consumers
deduplicate on it), `payload` (JSON) and `occurred_at`. Readers use XRANGE/XREAD from any id
(`events_read`), so a consumer that was away reads what it missed, as far back as MAXLEN.

The bus lives at `settings.EVENT_BUS_URL` (default REDIS_URL). Unset, `event_publish` raises
EventBusNotConfigured and lifecycle events stay in the outbox; see campaigns/outbox.py.
This module is the one seam to the bus: nothing else talks to it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from resilience import conf

# A dead bus must not hold up the timer processor: fail fast, the outbox keeps the event.
CONNECT_TIMEOUT_SECONDS = 0.5
SOCKET_TIMEOUT_SECONDS = 1.0

_clients: dict[tuple[str, float | None], redis.Redis] = {}
_lock = threading.Lock()


class EventBusNotConfigured(RuntimeError):
    """No EVENT_BUS_URL (nor REDIS_URL): there is nowhere to publish to."""

    def __init__(self) -> None:
        super().__init__("no event bus configured (set EVENT_BUS_URL or REDIS_URL)")


@dataclass(frozen=True)
class BusEvent:
    id: str  # the stream entry id, e.g. "1764390000000-0"
    topic: str
    event_id: str
    payload: Any
    occurred_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "topic": self.topic, "event_id": self.event_id,
                "payload": self.payload, "occurred_at": self.occurred_at}


def bus_url() -> str:
    return getattr(settings, "EVENT_BUS_URL", "") or ""


def is_configured() -> bool:
    return bool(bus_url())


def stream_key(topic_or_stream: str) -> str:
    """`lifecycle.campaign.started` (or just `lifecycle`) → `faultline:events:lifecycle`."""
    family = topic_or_stream.split(".", 1)[0]
    return f"{conf.get('EVENT_BUS_STREAM_PREFIX')}:events:{family}"


def client(*, read_timeout: float | None = SOCKET_TIMEOUT_SECONDS) -> redis.Redis:
    """One client (and connection pool) per URL and timeout, per process."""
    url = bus_url()
    if not url:
        raise EventBusNotConfigured()
    key = (url, read_timeout)
    with _lock:
        if key not in _clients:
            _clients[key] = redis.Redis.from_url(
                url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                socket_timeout=read_timeout, decode_responses=True,
            )
        return _clients[key]


def event_publish(topic: str, payload: Any, *, event_id: str | int = "",
                  occurred_at: str | None = None) -> str:
    """Append one event to its stream; returns the stream entry id. Raises
    EventBusNotConfigured, or redis.RedisError when the bus does not take it."""
    fields = {
        "topic": topic,
        "event_id": str(event_id),
        "payload": json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")),
        "occurred_at": occurred_at or timezone.now().isoformat(),
    }
    return client().xadd(stream_key(topic), fields, maxlen=conf.get("EVENT_BUS_MAXLEN"),
                         approximate=True)


def _event(entry_id: str, fields: dict[str, str]) -> BusEvent:
    try:
        payload = json.loads(fields.get("payload", "null"))
    except ValueError:
        payload = fields.get("payload")
    return BusEvent(id=entry_id, topic=fields.get("topic", ""),
                    event_id=fields.get("event_id", ""), payload=payload,
                    occurred_at=fields.get("occurred_at", ""))


def events_read(*, stream: str = "lifecycle", after: str = "0", count: int = 100,
                block_ms: int | None = None) -> list[BusEvent]:
    """Events with stream ids after `after` ("0" = from the start), oldest first.

    With `block_ms`, waits up to that long for new events when there are none (XREAD BLOCK).
    """
    key = stream_key(stream)
    if block_ms is None:
        entries = client().xrange(key, min=f"({after}" if after not in ("0", "0-0") else "-",
                                  count=count)
    else:
        # The socket must outlive the block, or a quiet stream reads as a timeout.
        reader = client(read_timeout=block_ms / 1000 + SOCKET_TIMEOUT_SECONDS + 1)
        answer = reader.xread({key: after}, count=count, block=block_ms)
        entries = answer[0][1] if answer else []
    return [_event(entry_id, fields) for entry_id, fields in entries]
