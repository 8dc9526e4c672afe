"""What the people who saw an error said about it (Sentry user feedback)."""

from django.db import models
from django.utils import timezone

from resilience.models.core import Service


class UserFeedback(models.Model):
    """A `user_report` item (the older form) or a `feedback` event (sentry-sdk 2.x, the
    browser widget). Attached to its event by `event_id`, and through the event's entry to
    its group; feedback about no event has an empty `event_id`."""

    class Kind(models.TextChoices):
        USER_REPORT = "user_report", "User report"
        FEEDBACK = "feedback", "Feedback"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="feedback")
    # A feedback event's own id; a user report's is the event's (one report per event,
    # a later one replaces it, as in Sentry).
    feedback_id = models.CharField(max_length=64)
    event_id = models.CharField(max_length=64, blank=True, help_text="The event it is about")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=128, blank=True)
    email = models.CharField(max_length=256, blank=True)
    comments = models.TextField(blank=True)
    url = models.CharField(max_length=512, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "user feedback"
        constraints = [
            models.UniqueConstraint(fields=["service", "feedback_id"], name="feedback_once"),
        ]
        indexes = [
            models.Index(fields=["service", "event_id"], name="feedback_event"),
            models.Index(fields=["received_at"], name="feedback_received"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.name or self.email or 'anonymous'}"
