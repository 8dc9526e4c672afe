"""Reads of attachments."""

from django.db.models import QuerySet

from resilience.models import EventAttachment


def attachments_of_event(*, service_id: int, event_id: str) -> QuerySet[EventAttachment]:
    return EventAttachment.objects.filter(service_id=service_id, event_id=event_id).order_by(
        "received_at", "pk")
