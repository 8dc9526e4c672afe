"""Readable, escaped rendering of reporter-supplied data for admin pages.

Everything a reporter sends (messages, stack traces, JSON) is untrusted: it only ever
reaches a page through format_html, which escapes it.
"""

import json
from typing import Any

from django.db import models
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

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
