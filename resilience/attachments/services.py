"""Keeping a Sentry attachment, and removing attachments with their entries."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Sum

from resilience import conf
from resilience.attachments.storage import (
    attachment_relative_path,
    attachment_unlink,
    attachment_write,
)
from resilience.models import EventAttachment

log = logging.getLogger("faultline.sentry")

_FILENAME_MAX = EventAttachment._meta.get_field("filename").max_length
_CONTENT_TYPE_MAX = EventAttachment._meta.get_field("content_type").max_length
_TYPE_MAX = EventAttachment._meta.get_field("attachment_type").max_length


def _text(value: object, limit: int, default: str = "") -> str:
    if not isinstance(value, str):
        return default
    # One line of printable text: it is shown on a page and sent as a download name.
    cleaned = "".join(c if c.isprintable() else "\ufffd" for c in value).strip()
    return cleaned[:limit] or default


def attachment_store(*, service_id: int, event_id: str, headers: dict, data: bytes,
                     now: datetime) -> bool:
    """Keep one attachment of `event_id` (a normalised event id); False when it is not kept
    because the event's attachments would pass ATTACHMENT_EVENT_MAX_BYTES. The same file
    sent again (an SDK's retry) is kept once and counts as kept."""
    digest = hashlib.sha256(data).hexdigest()
    filename = _text(headers.get("filename"), _FILENAME_MAX, "attachment")
    already = EventAttachment.objects.filter(service_id=service_id, event_id=event_id)
    if already.filter(filename=filename, sha256=digest).exists():
        return True
    held = already.aggregate(total=Sum("size"))["total"] or 0
    if held + len(data) > conf.get("ATTACHMENT_EVENT_MAX_BYTES"):
        return False
    relative = attachment_relative_path(service_id=service_id, event_id=event_id)
    attachment_write(relative, data)
    try:
        with transaction.atomic():
            EventAttachment.objects.create(
                service_id=service_id, event_id=event_id, filename=filename,
                content_type=_text(headers.get("content_type"), _CONTENT_TYPE_MAX),
                attachment_type=_text(headers.get("attachment_type"), _TYPE_MAX,
                                      "event.attachment"),
                size=len(data), sha256=digest, path=relative, received_at=now,
            )
    except IntegrityError:  # the same file, stored by a concurrent resend
        attachment_unlink(relative)
    except BaseException:
        attachment_unlink(relative)
        raise
    return True


def attachments_delete(attachments: Iterable[EventAttachment]) -> int:
    """Delete these rows, then their files once the deletion has committed (a crash in
    between leaves a file no row points at, never a row without its file)."""
    rows = list(attachments)
    if not rows:
        return 0
    paths = [row.path for row in rows]
    with transaction.atomic():
        deleted, _ = EventAttachment.objects.filter(pk__in=[row.pk for row in rows]).delete()
        transaction.on_commit(lambda: _unlink_all(paths))
    return deleted


def _unlink_all(paths: list[str]) -> None:
    for path in paths:
        attachment_unlink(path)
