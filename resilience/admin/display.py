"""Readable, escaped rendering of reporter-supplied data for admin pages.

Everything a reporter sends (messages, stack traces, JSON) is untrusted: it only ever
reaches a page through format_html, which escapes it.
"""

import json
from typing import Any

from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from resilience.core.grouping import Frame

EMPTY = "—"
# Wrap long lines and cap the height, so one huge payload does not swallow the page.
PRE = (
    '<pre style="white-space: pre-wrap; overflow-wrap: anywhere; max-height: 40em; '
    'overflow: auto">{}</pre>'
)


def pre(text: str) -> SafeString | str:
    """Multi-line text (a stack trace, a long message) as an escaped <pre> block."""
    if not text:
        return EMPTY
    return format_html(PRE, text)


def pretty_json(value: Any) -> SafeString | str:
    """JSON pretty-printed with sorted keys, escaped, in a <pre> block."""
    if value in (None, {}, []):
        return EMPTY
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html(PRE, text)


def admin_link(obj: models.Model | None, label: str | None = None) -> SafeString | str:
    """A link to an object's admin change page, labelled with its (escaped) str()."""
    if obj is None:
        return EMPTY
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label if label is not None else str(obj))


# Colour helps at a glance; the text says it all without colour. White on a dark fill reads
# the same on the admin's light and dark themes.
BADGE = (
    '<span class="fl-badge fl-badge-{}" style="background:{};color:#fff;padding:1px 7px;'
    'border-radius:3px;font-weight:600;white-space:nowrap">{}</span>'
)
SEVERITY_COLOURS = {
    "CRITICAL": "#7f1d1d",
    "HIGH": "#c62828",
    "MEDIUM": "#b45309",
    "LOW": "#37474f",
}
STATUS_COLOURS = {
    "OPEN": "#c62828",
    "MUTED": "#546e7a",
    "RESOLVED": "#2e7d32",
}


def badge(value: str, label: str, colours: dict[str, str]) -> SafeString:
    return format_html(BADGE, value.lower(), colours.get(value, "#555"), label)


# The changelist's flexible column (its template sets the cell's width): whatever room
# the other columns leave, one line, cut with an ellipsis, the whole text on hover.
FILL_CELL = (
    '<span class="fl-fill" title="{}" style="display:block;overflow:hidden;'
    'text-overflow:ellipsis;white-space:nowrap">{}</span>'
)


def fill_cell(text: str) -> SafeString | str:
    return format_html(FILL_CELL, text, text) if text else EMPTY


def truncated(text: str, width: str = "30em") -> SafeString | str:
    """One line cut with an ellipsis by CSS (the full text on hover), so a long value
    does not widen a changelist column."""
    if not text:
        return EMPTY
    return format_html(
        '<span title="{}" style="display:inline-block;max-width:{};overflow:hidden;'
        'text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom">{}</span>',
        text,
        width,
        text,
    )


def _frame_rows(frames: list[Frame]) -> SafeString:
    return format_html_join(
        "",
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
        ((f.function or EMPTY, f.module or EMPTY, f.filename or EMPTY) for f in frames),
    )


FRAMES_TABLE = (
    '<table class="fl-frames"><thead><tr><th>Function</th><th>Module</th><th>File</th></tr>'
    "</thead><tbody>{}</tbody></table>"
)


def frames_block(frames: list[Frame]) -> SafeString | str:
    """A trace's frames, most recent call first: the application's own (in-app) frames,
    then the libraries' folded away, as Sentry shows them."""
    if not frames:
        return EMPTY
    newest_first = list(reversed(frames))
    in_app = [f for f in newest_first if f.in_app]
    others = [f for f in newest_first if not f.in_app]
    parts = []
    if in_app:
        parts.append(format_html(FRAMES_TABLE, _frame_rows(in_app)))
    if others:
        table = format_html(FRAMES_TABLE, _frame_rows(others))
        if in_app:
            table = format_html(
                "<details><summary>{} library frame{}</summary>{}</details>",
                len(others), "" if len(others) == 1 else "s", table,
            )
        parts.append(table)
    return format_html_join("", "{}", ((part,) for part in parts))


def ago(moment) -> SafeString:
    """A short relative time ("5 minutes ago"), the exact one on hover."""
    exact = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z")
    return format_html('<span title="{}">{} ago</span>', exact, timesince(moment, depth=1))
