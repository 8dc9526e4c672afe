"""Attachments and user feedback as tables on the entry and group pages (escaped)."""

from collections.abc import Iterable

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from resilience.models import EventAttachment, UserFeedback

from .display import EMPTY


def attachments_table(attachments: Iterable[EventAttachment]) -> SafeString | str:
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td>'
        '<td title="{}">{}…</td></tr>',
        (
            (reverse("admin-attachment-download", args=[a.pk]), a.filename,
             f"{a.size:,} bytes", a.content_type or EMPTY, a.attachment_type,
             a.sha256, a.sha256[:12])
            for a in attachments
        ),
    )
    if not rows:
        return EMPTY
    return format_html(
        "<table><thead><tr><th>File</th><th>Size</th><th>Content type</th><th>Type</th>"
        "<th>SHA-256</th></tr></thead><tbody>{}</tbody></table>", rows)


def feedback_table(feedback: Iterable[UserFeedback], *, with_event: bool = False
                   ) -> SafeString | str:
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td>" + ("<td>{}</td>" if with_event else "")
        + '<td style="white-space:pre-wrap">{}</td></tr>',
        (
            (timezone.localtime(f.received_at).strftime("%Y-%m-%d %H:%M"),
             f.name or EMPTY, f.email or EMPTY,
             *((f.event_id or EMPTY,) if with_event else ()), f.comments or EMPTY)
            for f in feedback
        ),
    )
    if not rows:
        return EMPTY
    event_head = "<th>Event</th>" if with_event else ""
    return format_html(
        "<table><thead><tr><th>Received</th><th>Name</th><th>Email</th>{}<th>Comments</th>"
        "</tr></thead><tbody>{}</tbody></table>", SafeString(event_head), rows)
