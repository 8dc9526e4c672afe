"""The contract every channel's transport keeps (after healthchecks' hc/api/transports.py).

``Transport.build(content)`` makes the message (no I/O); ``Transport.send(message)`` sends
it and returns a ``Sent`` or raises ``TransportError``. ``permanent`` says whether trying
again unchanged could help; ``disable`` says the destination is gone and the channel
should be switched off (with the error as the reason). Each provider has its own module;
``transport_for(channel)`` maps Channel.Kind to its class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alerts.formatting import AlertContent
    from alerts.models import Channel


@dataclass(frozen=True)
class Sent:
    status_code: int | None
    duration_ms: int


class TransportError(Exception):
    def __init__(
        self, message: str, *, permanent: bool = False, status_code: int | None = None,
        duration_ms: int | None = None, disable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status_code = status_code
        self.duration_ms = duration_ms
        self.disable = disable


class Transport:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def build(self, content: AlertContent) -> Any:
        raise NotImplementedError

    def send(self, message: Any, *, now: float) -> Sent:
        """Raises TransportError on error, returns Sent on success. ``now``: Unix time."""
        raise NotImplementedError


def transport_for(channel: Channel) -> Transport:
    from alerts.transports.email import EmailTransport
    from alerts.transports.slack import SlackTransport
    from alerts.transports.webhook import WebhookTransport

    transports: dict[str, type[Transport]] = {
        "EMAIL": EmailTransport,
        "SLACK": SlackTransport,
        "WEBHOOK": WebhookTransport,
    }
    return transports[channel.kind](channel)
