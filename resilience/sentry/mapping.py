"""A Sentry event → a Faultline report (pure: standard library and the pure core only).

The event payload is documented at https://develop.sentry.dev/sdk/data-model/event-payloads/.
What is kept: the raised exception (type, value) and its causes as the report's `cause`
chain, a rendered stack trace and structured frames (`extra["frames"]`, which the digest
groups on: type + in-app module:function, never line numbers), the message of a captured
message, level (a severity floor for an exception, the severity of a message), fingerprint,
tags, environment, release, timestamp, and user, request, contexts, server name,
transaction, platform and SDK (in `extra`).

A message (an event with no exception: capture_message, a log record without exc_info) is
not an error: `extra["event_type"]` says "message" (else "error"), its level decides its
severity, and a log record's unformatted template (`logentry.message` with `params`) is
kept as `extra["message_template"]`, which the digest groups on instead of the formatted
text, as Sentry does.

For the entry page, `extra["exceptions"]` keeps every exception as a tree (an
ExceptionGroup's members under it, each link labelled as the SDK says) with each frame's
source lines and local variables, bounded, and `extra["unhandled"]` whether the SDK says
the application did not handle it (exception_details).

Mapping is lenient where the report schema is strict: over-long text is cut, odd tag values
are turned into text, NUL and lone surrogates become U+FFFD (in `extra` too), an errno that
does not fit is dropped, so an SDK's event is not refused for a detail. Only what makes an
event unusable (no valid event_id, not a JSON object) is an error.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resilience.core.exception_tree import (
    LINK_MEMBER,
    LINK_TEXT,
    MAX_EXCEPTIONS,
    ExceptionNode,
    exception_parents,
    exception_tree,
    link_kind,
    mechanism_of,
    member_number,
    small_id,
)
from resilience.core.frame_context import CONTEXT_BUDGET, sized_frame_context

# The frame heuristics text traces are grouped with; reused so structured frames without
# `module` or `in_app` (browser SDKs) get the same deploy-independent names.
from resilience.core.grouping import is_in_app, module_for
from resilience.core.report_schema import MAX_CAUSE_DEPTH, REPORT_FIELDS, storable_json
from resilience.core.safe_json import replace_bad_text

EVENT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
# Sentry's levels, lowest first (https://develop.sentry.dev/sdk/data-model/event-payloads/);
# SDKs also send the aliases Sentry normalises ("warn", "critical", JavaScript's "log").
LEVELS = ("debug", "info", "warning", "error", "fatal")
LEVEL_ALIASES = {"warn": "warning", "critical": "fatal", "log": "info"}
DEFAULT_LEVEL = "error"  # Sentry's, for a missing or unknown level
# An exception's level → the lowest severity it may get (classification may go higher).
SEVERITY_FLOORS = {"fatal": "CRITICAL", "error": "MEDIUM"}
# A message's level below "error" is its severity (classification does not raise it: a
# log line is not a failure); "error" and "fatal" messages take the floors above.
MESSAGE_SEVERITIES = {"debug": "LOW", "info": "LOW", "warning": "MEDIUM"}
EVENT_TYPE_ERROR = "error"
EVENT_TYPE_MESSAGE = "message"
# Faultline fields an SDK can set through tags (Sentry has no place for them otherwise).
TAG_FIELDS = ("operation", "component", "campaign_id", "timer_id")
MAX_FRAMES_RENDERED = 100  # per exception; the middle of deeper stacks is elided
MAX_FRAMES_KEPT = 250
MAX_TAGS = 100
_TEXT_LIMIT = {name: spec.max_length for name, spec in REPORT_FIELDS.items() if spec.max_length}
_FRAME_TEXT = 300


class EventError(ValueError):
    """The event cannot be taken; the message says why."""


@dataclass(frozen=True)
class MappedEvent:
    event_id: str
    report: dict[str, Any]  # REPORT_FIELDS-shaped, to be validated like any report
    extra: dict[str, Any]  # stored in entry.extra
    severity_floor: str | None
    severity: str | None = None  # a message's own, from its level (MESSAGE_SEVERITIES)


def normalise_event_id(value: Any) -> str | None:
    """32 lowercase hex digits (a UUID's dashes removed), or None when it is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("-", "").lower()
    return text if EVENT_ID_RE.match(text) else None


def _cut(text: Any, limit: int | None) -> str:
    text = text if isinstance(text, str) else ("" if text is None else str(text))
    if limit:
        text = text[:limit]
    # What needs repair (NUL, a lone surrogate) is rare: ASCII without NUL is checked in C.
    return text if text.isascii() and "\x00" not in text else replace_bad_text(text)


def _field(name: str, value: Any) -> str:
    return _cut(value, _TEXT_LIMIT.get(name)).strip()


# --- exceptions and frames -------------------------------------------------------------


def _exception_values(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    if not isinstance(values, list):
        return []
    return [v for v in values if isinstance(v, dict) and (v.get("type") or v.get("value"))]


def is_synthetic_message(values: list[dict[str, Any]]) -> bool:
    """JavaScript SDKs send a captured message with a stack trace (attachStacktrace) as an
    exception of no type whose mechanism is `synthetic`: a message all the same."""
    if len(values) != 1 or values[0].get("type"):
        return False
    mechanism = values[0].get("mechanism")
    return isinstance(mechanism, dict) and mechanism.get("synthetic") is True


def _exception_name(value: Mapping[str, Any]) -> str:
    kind = _cut(value.get("type"), 200).strip()
    module = value.get("module")
    if kind and isinstance(module, str) and module and not kind.startswith(module + "."):
        return _cut(f"{module}.{kind}", 200)
    return kind


def _raw_frames(value: Mapping[str, Any]) -> list[dict[str, Any]]:
    stacktrace = value.get("stacktrace")
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    if not isinstance(frames, list):
        return []
    return [f for f in frames if isinstance(f, dict)]


def _filename(frame: Mapping[str, Any]) -> str:
    return _cut(frame.get("filename") or frame.get("abs_path") or "", _FRAME_TEXT)


def grouping_frame(frame: Mapping[str, Any]) -> dict[str, Any]:
    """What grouping needs of a frame, and only that: no line or column numbers."""
    filename = _filename(frame)
    module = frame.get("module")
    in_app = frame.get("in_app")
    return {
        "module": _cut(module, _FRAME_TEXT) if module else module_for(filename),
        "function": _cut(frame.get("function") or "", _FRAME_TEXT),
        "filename": filename,
        "in_app": in_app if isinstance(in_app, bool) else is_in_app(filename),
    }


def _frame_lines(frame: Mapping[str, Any]) -> list[str]:
    where = f'  File "{_filename(frame) or "?"}"'
    if isinstance(frame.get("lineno"), int):
        where += f", line {frame['lineno']}"
    function = frame.get("function")
    if function:
        where += f", in {_cut(function, _FRAME_TEXT)}"
    lines = [where]
    context = frame.get("context_line")
    if isinstance(context, str) and context.strip():
        lines.append("    " + context.strip()[:_FRAME_TEXT])
    return lines


def _render_one(value: Mapping[str, Any], name: str, message: str) -> list[str]:
    frames = _raw_frames(value)
    lines: list[str] = []
    if frames:
        lines.append("Traceback (most recent call last):")
        if len(frames) > MAX_FRAMES_RENDERED:
            head, tail = MAX_FRAMES_RENDERED // 4, MAX_FRAMES_RENDERED - MAX_FRAMES_RENDERED // 4
            omitted = len(frames) - head - tail
            for frame in frames[:head]:
                lines += _frame_lines(frame)
            lines.append(f"  ... {omitted} frames omitted ...")
            frames = frames[-tail:]
        for frame in frames:
            lines += _frame_lines(frame)
    lines.append(f"{name or 'Error'}: {message}" if message else (name or "Error"))
    return lines


def _render_node(values: list[dict[str, Any]], tree: list[ExceptionNode], index: int) -> list[str]:
    """An exception as Python prints it: what it was linked to above it, then itself,
    then an exception group's members indented, numbered, in a box."""
    node, value = tree[index], values[index]
    lines: list[str] = []
    if node.linked is not None:
        lines += _render_node(values, tree, node.linked)
        lines += ["", LINK_TEXT[link_kind(values[node.linked])], ""]
    lines += _render_one(value, _exception_name(value), _cut(value.get("value"), None))
    for number, member in enumerate(node.members, 1):
        corner = "+-+" if number == 1 else "  +"
        lines.append(f"  {corner}---------------- {number} ----------------")
        lines += [f"    | {line}".rstrip() for line in _render_node(values, tree, member)]
    if node.members:
        lines.append("    +------------------------------------")
    return lines


def render_stack_trace(values: list[dict[str, Any]]) -> str:
    """The exceptions as one Python-style traceback, root cause first, oldest frame first;
    an exception group's members nested under it, as Python prints them.

    One format for every platform (labelled "most recent call last"), so a reader never
    has to guess the order, and `grouping.parse_stack_trace` can read it back.
    """
    values = values[-MAX_EXCEPTIONS:]
    text = "\n".join(_render_node(values, exception_tree(values), len(values) - 1))
    limit = _TEXT_LIMIT["stack_trace"]
    # Keep the end: the raised exception and its innermost frames.
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _cause_chain(values: list[dict[str, Any]], *, platform: Any = None,
                 nearest_code: str | None = None) -> dict[str, Any] | None:
    """exception.values (root cause first) → the report's nested `cause` (nearest first).

    The report schema allows MAX_CAUSE_DEPTH errors in all; a longer chain keeps the
    raised one and the causes nearest the root (the root is what classification needs).
    """
    causes = list(reversed(values[:-1]))  # nearest cause first, root cause last
    if len(causes) > MAX_CAUSE_DEPTH - 1:
        causes = causes[-(MAX_CAUSE_DEPTH - 1) :]
    chain: dict[str, Any] | None = None
    for depth, value in reversed(list(enumerate(causes))):  # build from the root outwards
        cause: dict[str, Any] = {}
        code = level_code(value, platform=platform,
                          data_code=nearest_code if depth == 0 else None)
        if code:
            cause["code"] = code
        name = _exception_name(value)
        if name:
            cause["name"] = name
        message = _field("message", value.get("value"))
        if message:
            cause["message"] = message
        stack = render_stack_trace([value]) if _raw_frames(value) else ""
        if stack:
            cause["stack_trace"] = stack
        errno = _errno(value)
        if errno is not None:
            cause["errno"] = errno
        if chain is not None:
            cause["cause"] = chain
        chain = cause
    return chain


# --- the exceptions as the entry page shows them: the tree, frames with their context ---
# (core/exception_tree.py: how they relate; core/frame_context.py: a frame's lines and vars)

_MECHANISM_FLAGS = ("handled", "is_exception_group")


def detail_frame(frame: Mapping[str, Any], grouped: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
    """Where a frame is: grouping_frame's names (`grouped`, when already made), its line
    and column."""
    detail = grouping_frame(frame) if grouped is None else dict(grouped)
    for key in ("lineno", "colno"):
        number = small_id(frame.get(key))
        if number is not None:
            detail[key] = number
    return detail


def _kept_frames(value: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The frames shown (the middle of a deep stack left out, as in the text) and how many
    were left out."""
    frames = _raw_frames(value)
    if len(frames) <= MAX_FRAMES_RENDERED:
        return frames, 0
    head = MAX_FRAMES_RENDERED // 4
    tail = MAX_FRAMES_RENDERED - head
    return frames[:head] + frames[-tail:], len(frames) - head - tail


def _mechanism_summary(value: Mapping[str, Any]) -> dict[str, Any]:
    mechanism = mechanism_of(value)
    summary: dict[str, Any] = {}
    kind = mechanism.get("type")
    if isinstance(kind, str) and kind.strip():
        summary["type"] = _cut(kind.strip(), 64)
    for flag in _MECHANISM_FLAGS:
        if isinstance(mechanism.get(flag), bool):
            summary[flag] = mechanism[flag]
    return summary


def exception_details(values: list[dict[str, Any]],
                      grouped: Mapping[int, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """What the entry page shows of the exceptions, for `extra` (`grouped`: the grouping
    frames already made, by the id of their frame in `values`):

    - `exceptions`: exception.values in the SDK's order (root cause first, the raised one
      last), each with its type, value, mechanism (type, handled, is_exception_group),
      `parent` (index of the exception it belongs to, None for the raised one) and `link`
      (LINK_CAUSE, LINK_CONTEXT, LINK_CHAINED or LINK_MEMBER, with `member`, its number in
      the group), its frames (oldest first) with each frame's context and variables
      while CONTEXT_BUDGET lasts (`context_trimmed` when it ran out);
    - `unhandled`: whether the SDK says the error was not handled by the application
      (any mechanism with handled false, as Sentry reads it), when it says either;
    - `mechanism`: the type of the mechanism that decided it (e.g. "django",
      "onunhandledrejection").
    """
    values = values[-MAX_EXCEPTIONS:]
    grouped = grouped or {}
    parents = exception_parents(values)
    exceptions: list[dict[str, Any]] = []
    for value, parent in zip(values, parents, strict=True):
        frames, omitted = _kept_frames(value)
        part: dict[str, Any] = {
            "type": _exception_name(value),
            "value": _field("message", value.get("value")),
            "mechanism": _mechanism_summary(value),
            "parent": parent,
            "link": link_kind(value) if parent is not None else None,
            "frames": [detail_frame(frame, grouped.get(id(frame))) for frame in frames],
        }
        if part["link"] == LINK_MEMBER:
            part["member"] = member_number(value, len(exceptions))
        if omitted:
            part["frames_omitted"] = omitted
        exceptions.append(part)

    budget, trimmed = CONTEXT_BUDGET, False
    for value, part in zip(reversed(values), reversed(exceptions), strict=True):
        frames, _ = _kept_frames(value)
        for raw, detail in zip(reversed(frames), reversed(part["frames"]), strict=True):
            context, size = sized_frame_context(raw)
            if size > budget:
                trimmed = True
                continue
            budget -= size
            detail.update(context)

    details: dict[str, Any] = {"exceptions": exceptions}
    if trimmed:
        details["context_trimmed"] = True
    # Nearest the raised exception first: its children's mechanism type is "chained".
    mechanisms = [part["mechanism"] for part in reversed(exceptions)]
    unhandled = next((m for m in mechanisms if m.get("handled") is False), None)
    told = unhandled or next((m for m in mechanisms if "handled" in m), None)
    if told is not None:
        details["unhandled"] = told is unhandled
        if "type" in told:
            details["mechanism"] = told["type"]
    return details


# A Node system error's message names its code after the system call ("connect
# ECONNREFUSED 127.0.0.1:5432", "getaddrinfo ENOTFOUND db.internal", "read ECONNRESET"), or
# first with a colon for file system calls ("ENOENT: no such file or directory, open 'x'").
_NODE_SYSTEM_MESSAGE = re.compile(
    r"^(?:[a-z][A-Za-z]* (E[A-Z0-9_]{2,31})(?:\s|$)|(E[A-Z0-9_]{2,31}): )"
)
_CODE_TEXT = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_NODE_PLATFORMS = frozenset({"node", "javascript"})


def _context_code(data: Any) -> str | None:
    code = data.get("code") if isinstance(data, dict) else None
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    return code if isinstance(code, str) and _CODE_TEXT.match(code) else None


def error_data_codes(event: Mapping[str, Any], raised_name: str) -> tuple[str | None, str | None]:
    """The `code` of the raised error and of its cause where JavaScript SDKs put them:
    extraErrorDataIntegration writes `contexts[<type>] = {code, …, cause: {<type>: {code}}}`."""
    contexts = event.get("contexts")
    data = contexts.get(raised_name) if isinstance(contexts, dict) else None
    if not isinstance(data, dict):
        return None, None
    cause = data.get("cause")
    cause_data = next(iter(cause.values()), None) if isinstance(cause, dict) and cause else None
    return _context_code(data), _context_code(cause_data)


def level_code(value: Mapping[str, Any], *, platform: Any, data_code: str | None) -> str | None:
    """The error code of one exception: from the SDK's error data, else (on Node) the
    system error's message."""
    if data_code:
        return data_code
    if isinstance(platform, str) and platform in _NODE_PLATFORMS:
        match = _NODE_SYSTEM_MESSAGE.match(_cut(value.get("value"), 200))
        if match:
            return match.group(1) or match.group(2)
    return None


def _errno(value: Mapping[str, Any]) -> int | str | None:
    """Native SDKs put errno in mechanism.meta.errno: {"number": 111, "name": "ECONNREFUSED"}."""
    mechanism = value.get("mechanism")
    meta = mechanism.get("meta") if isinstance(mechanism, dict) else None
    errno = meta.get("errno") if isinstance(meta, dict) else None
    if not isinstance(errno, dict):
        return None
    name = errno.get("name")
    if isinstance(name, str) and name.strip():
        return _cut(name.strip(), 32)
    number = errno.get("number")
    if isinstance(number, int) and not isinstance(number, bool) and abs(number) < 2**63:
        return number
    return None


# --- messages, tags, the rest ----------------------------------------------------------


def _message_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("formatted") or value.get("message")
        return text if isinstance(text, str) else ""
    return ""


def event_message(event: Mapping[str, Any]) -> str:
    """logentry.formatted, logentry.message, or a bare `message` (string or object)."""
    return _message_text(event.get("logentry")) or _message_text(event.get("message"))


# printf-style (logging's %s, %(name)s, %.2f) and str.format ({}, {name}) placeholders.
_PLACEHOLDER = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]|\{[^{}]*\}"
)


def message_template(event: Mapping[str, Any]) -> str | None:
    """The unformatted template of a log record sent with its params (logging's
    `logger.error("charge %s failed", order_id)`), or None.

    A template with no words of its own ("%s", "%s: %s") would put every message in one
    group, so the formatted text is grouped on instead.
    """
    for value in (event.get("logentry"), event.get("message")):
        if not isinstance(value, dict) or not value.get("params"):
            continue
        template = value.get("message")
        if isinstance(template, str) and re.search(r"[^\W\d_]", _PLACEHOLDER.sub("", template)):
            return template
    return None


def event_level(value: Any) -> str:
    """The event's level as one of LEVELS: aliases normalised, missing or unknown: error."""
    level = value.strip().lower() if isinstance(value, str) else DEFAULT_LEVEL
    level = LEVEL_ALIASES.get(level, level)
    return level if level in LEVELS else DEFAULT_LEVEL


def level_at_least(level: Any, minimum: str) -> bool:
    """Whether `level` (as stored, any spelling) is `minimum` or above; an unknown
    `minimum` holds nothing back."""
    floor = LEVEL_ALIASES.get(minimum.strip().lower(), minimum.strip().lower())
    if floor not in LEVELS:
        return True
    return LEVELS.index(event_level(level)) >= LEVELS.index(floor)


def is_message_event(extra: Any) -> bool:
    """An entry's `extra` says it came from a Sentry message, not an exception."""
    return isinstance(extra, dict) and extra.get("event_type") == EVENT_TYPE_MESSAGE


def _tag_text(value: Any) -> str:
    if isinstance(value, str):
        return _cut(value, 200)
    if isinstance(value, bool | int | float):
        return str(value)
    return _cut(value, 200)


def event_tags(value: Any) -> dict[str, str]:
    """Tags as an object: Sentry sends an object or a list of [key, value] pairs."""
    pairs = value.items() if isinstance(value, dict) else value if isinstance(value, list) else []
    tags: dict[str, str] = {}
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        key, tag = pair
        if not isinstance(key, str) or not key or tag is None:
            continue
        tags[_cut(key, 200)] = _tag_text(tag)
        if len(tags) >= MAX_TAGS:
            break
    return tags


def _fingerprint(value: Any) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    return [_cut(part, 200) for part in value[:16]]


def _http_status(event: Mapping[str, Any]) -> int | None:
    """The failed call's status, where SDKs report one (contexts.response.status_code)."""
    contexts = event.get("contexts")
    response = contexts.get("response") if isinstance(contexts, dict) else None
    status = response.get("status_code") if isinstance(response, dict) else None
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return status
    return None


def _sdk(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {k: value[k] for k in ("name", "version") if isinstance(value.get(k), str)}


_EXTRA_KEYS = ("contexts", "user", "request", "server_name", "transaction", "platform",
               "logger", "dist")


def map_event(event: Any, *, fallback_event_id: Any = None, parsed: bool = False) -> MappedEvent:
    """Map one Sentry event; `fallback_event_id` is the envelope header's event_id.

    `parsed`: the event is what safe_json.loads(text="replace") read (the endpoints'), so
    every string in it is storable text and its numbers and depth are bounded: what the
    SDK sent is kept without walking it again (storable_json would return it as it is)."""
    if not isinstance(event, dict):
        raise EventError("the event must be a JSON object")
    raw_id = event.get("event_id") or fallback_event_id
    if raw_id is None:
        raise EventError("the event has no event_id (32 hexadecimal characters)")
    event_id = normalise_event_id(raw_id)
    if event_id is None:
        raise EventError(f"event_id {str(raw_id)[:64]!r} is not 32 hexadecimal characters")

    report: dict[str, Any] = {"event_id": event_id}
    extra: dict[str, Any] = {}
    values = _exception_values(event)
    is_message = not values or is_synthetic_message(values)
    if not is_message:
        raised = values[-1]
        name = _exception_name(raised)
        if name:
            report["name"] = name
        message = _field("message", raised.get("value")) or _field("message", event_message(event))
        if message:
            report["message"] = message
        report["stack_trace"] = render_stack_trace(values)
        platform = event.get("platform")
        raised_code, nearest_code = error_data_codes(event, _cut(raised.get("type"), 200))
        code = level_code(raised, platform=platform, data_code=raised_code)
        if code:
            report["code"] = code
        cause = _cause_chain(values, platform=platform, nearest_code=nearest_code)
        if cause:
            report["cause"] = cause
        errno = _errno(raised)
        if errno is not None:
            report["errno"] = errno
        # Group on the raised exception's frames; a rethrow without a stack uses its cause's.
        grouped: dict[int, dict[str, Any]] = {}
        for value in reversed(values):
            frames = _raw_frames(value)[-MAX_FRAMES_KEPT:]
            if frames:
                extra["frames"] = [grouping_frame(f) for f in frames]
                grouped = {id(f): made for f, made in zip(frames, extra["frames"], strict=True)}
                break
        extra.update(exception_details(values, grouped))
    else:
        message = _field("message", event_message(event)) or (
            _field("message", values[0].get("value")) if values else "")
        if message:
            report["message"] = message
        if values and _raw_frames(values[0]):  # where it was captured: the group's culprit
            extra["frames"] = [grouping_frame(f) for f in _raw_frames(values[0])[-MAX_FRAMES_KEPT:]]
        template = message_template(event)
        if template:
            extra["message_template"] = _cut(template, _TEXT_LIMIT["message"])

    status = _http_status(event)
    if status is not None:
        report["status"] = status
    for name in ("environment", "release"):
        text = _field(name, event.get(name))
        if text:
            report[name] = text
    timestamp = event.get("timestamp")
    if isinstance(timestamp, str | int | float) and not isinstance(timestamp, bool):
        report["timestamp"] = timestamp
    tags = event_tags(event.get("tags"))
    if tags:
        report["tags"] = tags
        for name in TAG_FIELDS:
            text = _field(name, tags.get(name))
            if text:
                report[name] = text
    fingerprint = _fingerprint(event.get("fingerprint"))
    if fingerprint:
        report["fingerprint"] = fingerprint
    user = event.get("user")
    if isinstance(user, dict) and user.get("id") not in (None, ""):
        user_id = _field("user_id", user["id"])
        if user_id:
            report["user_id"] = user_id

    level = event_level(event.get("level"))
    extra["level"] = level
    extra["event_type"] = EVENT_TYPE_MESSAGE if is_message else EVENT_TYPE_ERROR
    # Stored beside the report without passing validate_report, so made storable here.
    # What was built above is storable as built (its text cut and repaired, its numbers
    # small); what the SDK sent is kept as sent, so it is checked (and repaired).
    sent: dict[str, Any] = {}
    for key in _EXTRA_KEYS:
        if event.get(key) not in (None, "", {}, []):
            sent[key] = event[key]
    sdk = _sdk(event.get("sdk"))
    if sdk:
        sent["sdk"] = sdk
    if isinstance(event.get("extra"), dict) and event["extra"]:
        sent["extra"] = event["extra"]
    extra.update(sent if parsed else storable_json("extra", sent, repair=True))
    return MappedEvent(
        event_id=event_id,
        report=report,
        extra=extra,
        severity_floor=SEVERITY_FLOORS.get(level),
        severity=MESSAGE_SEVERITIES.get(level) if is_message else None,
    )
