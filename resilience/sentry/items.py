"""Envelope items kept beside error events: attachments, user feedback, and the item types
the apps built on resilience register (monitors registers `check_in`).

https://develop.sentry.dev/sdk/data-model/envelope-items/. The endpoint frames them with
the events, stores the events first, then hands each of these to its handler. None of them
can fail the request: an item that is malformed, over its limit, or that cannot be stored
is dropped and counted (faultline_sentry_items_dropped_total{type}), and the SDK still
gets its 200. They are stored on the request's thread: one or two small writes each.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from resilience import conf
from resilience.sentry.envelope import EnvelopeError, Item, parse_json_object

log = logging.getLogger("faultline.sentry")


@dataclass(frozen=True)
class SideItem:
    """One item to keep, with what its handler needs to know about the envelope."""

    service_id: int
    item: Item
    event_id: str | None  # the envelope's event: its header's, else its only event's
    now: datetime

    def json(self) -> dict:
        """The payload as a JSON object (EnvelopeError otherwise)."""
        return parse_json_object(self.item.payload, f"the {self.item.type} item")


# True: kept; False: dropped (counted). May raise: logged, and dropped too.
ItemHandler = Callable[[SideItem], bool]

_handlers: dict[str, ItemHandler] = {}


def sentry_item_handler_register(item_type: str, handler: ItemHandler) -> None:
    """Keep items of `item_type` with `handler` (called from an AppConfig.ready)."""
    _handlers[item_type] = handler


def item_kept(item_type: str) -> bool:
    return item_type in _handlers


def item_limits() -> dict[str, int]:
    """Each kept type's own size limit; over it the item is dropped, not refused."""
    limits = dict.fromkeys(_handlers, conf.get("SENTRY_MAX_EVENT_BYTES"))
    limits["attachment"] = conf.get("ATTACHMENT_MAX_BYTES")
    return limits


def side_items_store(*, service_id: int, items: Iterable[Item], event_id: str | None,
                     now: datetime) -> Counter[str]:
    """Hand each item to its handler; the number dropped per item type."""
    dropped: Counter[str] = Counter()
    for item in items:
        handler = _handlers.get(item.type)
        if handler is None or item.oversized:
            dropped[item.type] += 1
            continue
        try:
            kept = handler(SideItem(service_id=service_id, item=item, event_id=event_id,
                                    now=now))
        except (EnvelopeError, ValueError) as exc:
            log.info("sentry %s item dropped: %s", item.type, exc)
            kept = False
        except Exception:  # the events are stored already: never fail the request for this
            log.exception("sentry %s item could not be stored", item.type)
            kept = False
        if not kept:
            dropped[item.type] += 1
    return dropped


# --- resilience's own item types ---------------------------------------------------------


def _attachment(side: SideItem) -> bool:
    from resilience.attachments.services import attachment_store

    if side.event_id is None:  # an attachment belongs to an event; this one names none
        return False
    return attachment_store(service_id=side.service_id, event_id=side.event_id,
                            headers=side.item.headers, data=side.item.payload, now=side.now)


def _user_report(side: SideItem) -> bool:
    from resilience.feedback.services import user_report_store

    user_report_store(service_id=side.service_id, report=side.json(), now=side.now)
    return True


def _feedback(side: SideItem) -> bool:
    from resilience.feedback.services import feedback_event_store

    feedback_event_store(service_id=side.service_id, event=side.json(), now=side.now)
    return True


sentry_item_handler_register("attachment", _attachment)
sentry_item_handler_register("user_report", _user_report)
sentry_item_handler_register("feedback", _feedback)
