"""Files a Sentry SDK sent with an event (scope attachments, `add_attachment`)."""

from django.db import models
from django.utils import timezone

from resilience.models.core import Service


class EventAttachment(models.Model):
    """One attachment, its bytes on disk (resilience/attachments/storage.py).

    Keyed by (service, event_id) rather than a foreign key to the entry: an attachment may
    arrive before its event is written (the same envelope goes through the group committer
    or the spool) or in a later envelope, and the entry page finds it by its event id.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="attachments")
    event_id = models.CharField(max_length=64)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=128, blank=True)
    attachment_type = models.CharField(max_length=64, default="event.attachment")
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    path = models.CharField(max_length=255, help_text="Under ATTACHMENT_DIR")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # An SDK resending an envelope it got no answer for stores each file once.
            models.UniqueConstraint(fields=["service", "event_id", "filename", "sha256"],
                                    name="attachment_once"),
        ]
        indexes = [
            models.Index(fields=["received_at"], name="attachment_received"),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.size} bytes, event {self.event_id})"
