"""Reads of user feedback: an event's, and a group's through its entries."""

from django.db.models import QuerySet

from resilience.models import ErrorGroup, ErrorLogEntry, UserFeedback

GROUP_FEEDBACK_SHOWN = 20


def feedback_of_event(*, service_id: int, event_id: str) -> QuerySet[UserFeedback]:
    return UserFeedback.objects.filter(service_id=service_id, event_id=event_id).order_by(
        "-received_at")


def feedback_of_group(group: ErrorGroup, *, limit: int = GROUP_FEEDBACK_SHOWN
                      ) -> list[UserFeedback]:
    """The newest feedback about any of the group's stored events. Feedback is found by
    event id, so it joins its group once the digest has grouped the event."""
    events = ErrorLogEntry.objects.filter(group=group).values("event_id")
    return list(UserFeedback.objects.filter(service_id=group.service_id, event_id__in=events)
                .order_by("-received_at")[:limit])
