"""A frame's source lines and local variables, as a Sentry SDK sends them, bounded (pure:
standard library and the pure core only).

The SDK sends `pre_context`, `context_line`, `post_context` and `vars` on each frame:
https://develop.sentry.dev/sdk/data-model/event-payloads/stacktrace/#frame-attributes
"""

import json
from collections.abc import Mapping
from itertools import islice
from typing import Any

from resilience.core.safe_json import replace_bad_text

# Bounds of what is kept of each frame's source lines and local variables. The SDKs trim
# already, but sentry-python 2.x no longer cuts values by default (max_value_length None).
MAX_CONTEXT_LINES = 5  # before and after the frame's line
MAX_CONTEXT_LINE = 300
MAX_VARS = 50
MAX_VAR_NAME = 100
MAX_VAR_VALUE = 500
# Characters of context and variables per entry. A Django view error through the Django
# integration carries about 1.1 KB a frame (4.5 KB for 4 frames, 6 KB the whole event), so
# even a deep stack of 40 frames keeps all of it; the innermost frames of the raised
# exception are served first, and frames past the budget keep their location only.
CONTEXT_BUDGET = 64_000


def cut(text: Any, limit: int) -> str:
    """Text cut to `limit` characters, NUL and lone surrogates made U+FFFD."""
    text = text if isinstance(text, str) else ("" if text is None else str(text))
    text = text[:limit]
    # What needs repair is rare: ASCII without NUL is checked in C and kept.
    return text if text.isascii() and "\x00" not in text else replace_bad_text(text)


def _kept_as_sent(text: str, limit: int) -> bool:
    """`text` needs no cut and no repair: cut() would return it as it is."""
    return len(text) <= limit and text.isascii() and "\x00" not in text


def _text_lines(value: Any, keep_last: bool) -> list[str]:
    if not isinstance(value, list):
        return []
    # Most often every line is short ASCII text: checked at once, joined (a non-text line
    # makes the join fail). If the lines kept are all text, they are the text lines kept.
    lines = value[-MAX_CONTEXT_LINES:] if keep_last else value[:MAX_CONTEXT_LINES]
    try:
        joined = "".join(lines)
    except TypeError:
        joined = None
    if joined is not None and _kept_as_sent(joined, MAX_CONTEXT_LINE):
        return list(lines)
    lines = [line for line in value if isinstance(line, str)]
    lines = lines[-MAX_CONTEXT_LINES:] if keep_last else lines[:MAX_CONTEXT_LINES]
    return [cut(line, MAX_CONTEXT_LINE) for line in lines]


def _var_text(value: Any) -> str:
    """A variable as the SDK's text (its repr); a structure the SDK kept as JSON, as
    compact JSON; cut to MAX_VAR_VALUE."""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
    return cut(value, MAX_VAR_VALUE)


def frame_context(frame: Mapping[str, Any]) -> dict[str, Any]:
    """A frame's source lines around its line and its local variables, bounded."""
    return sized_frame_context(frame)[0]


def sized_frame_context(frame: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """frame_context() and its context_size(), counted as it is built."""
    context: dict[str, Any] = {}
    size = 0
    line = frame.get("context_line")
    if isinstance(line, str):
        pre = context["pre_context"] = _text_lines(frame.get("pre_context"), keep_last=True)
        line = context["context_line"] = cut(line, MAX_CONTEXT_LINE)
        post = context["post_context"] = _text_lines(frame.get("post_context"),
                                                     keep_last=False)
        size = sum(map(len, pre)) + len(line) + sum(map(len, post))
    variables = frame.get("vars")
    if isinstance(variables, dict) and variables:
        kept = context["vars"] = {}
        for name, value in islice(variables.items(), MAX_VARS):
            if type(name) is not str or not _kept_as_sent(name, MAX_VAR_NAME):
                name = cut(name, MAX_VAR_NAME)
            if type(value) is not str or not _kept_as_sent(value, MAX_VAR_VALUE):
                value = _var_text(value)
            kept[name] = value
        size += sum(map(len, kept)) + sum(map(len, kept.values()))
    return context, size


def context_size(context: Mapping[str, Any]) -> int:
    """What frame_context's result costs of CONTEXT_BUDGET: its characters."""
    lines = [*context.get("pre_context", ()), context.get("context_line", ""),
             *context.get("post_context", ())]
    variables = context.get("vars", {})
    return sum(map(len, lines)) + sum(len(k) + len(v) for k, v in variables.items())
