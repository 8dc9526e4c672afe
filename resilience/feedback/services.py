"""Storing user feedback from both forms Sentry SDKs send.

https://develop.sentry.dev/sdk/data-model/envelope-items/#user-feedback (`user_report`:
event_id, name, email, comments) and the newer `feedback` event
(https://develop.sentry.dev/sdk/data-model/event-payloads/feedback/: contexts.feedback
with message, contact_email, name, url, associated_event_id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from resilience.models import UserFeedback
from resilience.sentry.mapping import normalise_event_id


class FeedbackError(ValueError):
    """The item cannot be stored as feedback (it is dropped and counted, never refused)."""


def _text(value: Any, field: str) -> str:
    limit = UserFeedback._meta.get_field(field).max_length or 8192
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "\ufffd")[:limit]


def _store(*, service_id: int, feedback_id: str, event_id: str, kind: str, now: datetime,
           **fields: Any) -> UserFeedback:
    values = {name: _text(value, name) for name, value in fields.items()}
    row, _ = UserFeedback.objects.update_or_create(
        service_id=service_id, feedback_id=feedback_id,
        defaults={"event_id": event_id, "kind": kind, "received_at": now, **values},
    )
    return row


def user_report_store(*, service_id: int, report: dict[str, Any], now: datetime
                      ) -> UserFeedback:
    """A `user_report` item: about one event, which it must name."""
    event_id = normalise_event_id(report.get("event_id"))
    if not event_id:
        raise FeedbackError("a user report names no valid event_id")
    return _store(service_id=service_id, feedback_id=event_id, event_id=event_id,
                  kind=UserFeedback.Kind.USER_REPORT, now=now, name=report.get("name"),
                  email=report.get("email"), comments=report.get("comments"))


def feedback_event_store(*, service_id: int, event: dict[str, Any], now: datetime
                         ) -> UserFeedback:
    """A `feedback` event: its own id, and the event it is about when it names one."""
    feedback_id = normalise_event_id(event.get("event_id"))
    contexts = event.get("contexts")
    feedback = contexts.get("feedback") if isinstance(contexts, dict) else None
    if not feedback_id or not isinstance(feedback, dict):
        raise FeedbackError("a feedback event needs an event_id and contexts.feedback")
    return _store(service_id=service_id, feedback_id=feedback_id,
                  event_id=normalise_event_id(feedback.get("associated_event_id")) or "",
                  kind=UserFeedback.Kind.FEEDBACK, now=now, name=feedback.get("name"),
                  email=feedback.get("contact_email"), comments=feedback.get("message"),
                  url=feedback.get("url"))
