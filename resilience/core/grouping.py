"""Group error occurrences into issues: stack parsing, message normalisation, fingerprints.

Pure standard-library code. The hashed material is prefixed with ``GROUPING_VERSION`` so
the scheme can change later without silently merging old and new groups.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_PLACEHOLDER = "{{ default }}"
GROUPING_VERSION = "v1"
_SEPARATOR = "\x1f"  # ASCII unit separator: cannot appear in sane names/messages
_MAX_MESSAGE = 500
_MAX_TITLE = 255
_MAX_LINE = 1000  # longer "frame" lines are junk; skipping them also bounds regex work


@dataclass(frozen=True)
class Frame:
    module: str
    function: str
    filename: str
    in_app: bool


# --- stack trace parsing -------------------------------------------------------------------

_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+(?:, in (?P<func>.+?))?\s*$')
_JS_AT = re.compile(r"^\s*at (?P<rest>.+?)\s*$")
_JS_WITH_FUNC = re.compile(r"^(?P<func>.+?) \((?P<loc>[^()]+)\)$")
_JS_LOCATION = re.compile(r"^(?P<file>.+?):\d+(?::\d+)?$")
_LIBRARY_MARKERS = ("node_modules/", "site-packages/", "dist-packages/")
# Interpreter stdlib (/usr/lib/python3.11/socket.py) is not the user's code either.
_PY_STDLIB = re.compile(r"/lib/python\d+(?:\.\d+)?/")
_SOURCE_EXT = re.compile(r"\.(?:py|pyc|js|mjs|cjs|jsx|ts|tsx|mts|cts)$")


def is_in_app(filename: str) -> bool:
    if any(marker in filename for marker in _LIBRARY_MARKERS):
        return False
    if filename.startswith(("<frozen", "node:")):  # node:internal/..., node:fs builtins
        return False
    return not _PY_STDLIB.search(filename)


def module_for(filename: str) -> str:
    """A deploy-independent module name: the absolute checkout path must not matter."""
    path = filename
    if path.startswith("<frozen "):
        return path[len("<frozen ") :].rstrip(">").strip()
    if path.startswith("node:"):  # node builtins: the whole internal path is stable
        return _dotted(path[len("node:") :].split("/"))
    for prefix in ("file://", "webpack:///", "webpack://"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    for marker in _LIBRARY_MARKERS:
        # Library frames: the package-relative path is stable across installs.
        idx = path.rfind(marker)
        if idx != -1:
            path = path[idx + len(marker) :]
            return _dotted(path.split("/"))
    stdlib = list(_PY_STDLIB.finditer(path))
    if stdlib:
        return _dotted(path[stdlib[-1].end() :].split("/"))
    # App code: the last two path components ("orders/views.py" -> "orders.views").
    return _dotted(path.split("/")[-2:])


def _dotted(parts: list[str]) -> str:
    parts = [p for p in parts if p and p != "."]
    if parts:
        parts[-1] = _SOURCE_EXT.sub("", parts[-1])
    return ".".join(p for p in parts if p)


def _make_frame(filename: str, function: str) -> Frame:
    filename = filename.strip().replace("\\", "/")
    return Frame(
        module=module_for(filename),
        function=function.strip() or "<anonymous>",
        filename=filename,
        in_app=is_in_app(filename),
    )


def _parse_js(rest: str) -> Frame | None:
    with_func = _JS_WITH_FUNC.match(rest)
    if with_func:
        func, loc = with_func.group("func"), with_func.group("loc")
    else:
        func, loc = "", rest
    location = _JS_LOCATION.match(loc)
    if not location:
        return None  # "at async Promise.all (index 0)", "(native)": nothing to group on
    func = func.removeprefix("async ").removeprefix("new ")
    return _make_frame(location.group("file"), func)


_PY_LINE, _JS_LINE = 0, 1
# What one line of a trace says: (_PY_LINE or _JS_LINE, its frame), or None.
ParsedLine = tuple[int, Frame] | None


def _parse_line(line: str) -> ParsedLine:
    py = _PY_FRAME.match(line)
    if py:
        return _PY_LINE, _make_frame(py.group("file"), py.group("func") or "")
    js = _JS_AT.match(line)
    if js:
        frame = _parse_js(js.group("rest"))
        if frame is not None:
            return _JS_LINE, frame
    return None


def parse_stack_trace(text: str, *, memo: dict[str, ParsedLine] | None = None) -> list[Frame]:
    """Frames from a Python or JS/Node stack trace, oldest call first, innermost last.

    Python tracebacks already list the innermost call last; V8 lists it first, so JS
    frames are reversed to give both the same orientation. Unparseable lines are skipped.
    `memo` (a dict the caller keeps, e.g. for one digest batch) remembers each line's
    reading: the traces of one failure repeat the same frame lines, and only the message
    line differs.
    """
    if not isinstance(text, str):
        return []
    py_frames: list[Frame] = []
    js_frames: list[Frame] = []
    try:
        for line in text.splitlines():
            if len(line) > _MAX_LINE:
                continue
            if memo is None:
                parsed = _parse_line(line)
            else:
                parsed = memo.get(line, memo)
                if parsed is memo:
                    parsed = memo[line] = _parse_line(line)
            if parsed is not None:
                (py_frames if parsed[0] == _PY_LINE else js_frames).append(parsed[1])
    except Exception:  # noqa: BLE001 - parsing is best effort; a report must never fail on its stack
        pass
    return py_frames + js_frames[::-1]


# --- message normalisation -------------------------------------------------------------

# Units of time and size, as messages write them right after a number.
_TIME_UNITS = "ns|us|µs|ms|secs|sec|s|mins|min|m|hrs|hr|h|d"
_SIZE_UNITS = "b|kb|mb|gb|tb|kib|mib|gib|tib"
# Order matters: specific shapes first so e.g. a UUID is not eaten as hex and numbers.
_NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (re.compile(r"[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
            r"|\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b"
        ),
        "<date>",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "<ip>"),
    # Hex ids need a letter (or 0x) so plain long numbers become <n>, not <hex>.
    (re.compile(r"\b(?:0x[0-9a-f]+|(?=[0-9a-f]*[a-f])[0-9a-f]{8,})\b", re.I), "<hex>"),
    # Quoted values keep their quotes; the apostrophe in "can't" is not a quote.
    (re.compile(r'"[^"\n]*"'), '"<str>"'),
    (re.compile(r"(?<!\w)'[^'\n]*'(?!\w)"), "'<str>'"),
    # A number written against its unit is one value: "30s", "1500ms" and Go's "2m30s"
    # are all <duration>, "64KiB" a <size>. Only such tokens: the words around them stay.
    (re.compile(rf"\b(?:\d+(?:\.\d+)?(?:{_TIME_UNITS}))+\b", re.I), "<duration>"),
    (re.compile(rf"\b\d+(?:\.\d+)?(?:{_SIZE_UNITS})\b", re.I), "<size>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "<n>"),
)
_WHITESPACE = re.compile(r"\s+")


def normalise_message(message: str) -> str:
    """Replace volatile values with placeholders so equal errors get equal messages."""
    if not isinstance(message, str):
        return ""
    # Only the head matters for grouping; bounding the input bounds the regex work.
    text = message[: _MAX_MESSAGE * 8]
    for pattern, placeholder in _NORMALISERS:
        text = pattern.sub(placeholder, text)
    return _WHITESPACE.sub(" ", text).strip()[:_MAX_MESSAGE]


# --- grouping keys and fingerprints ------------------------------------------------------


def _frame_parts(frames: Sequence[Frame]) -> list[str]:
    chosen = [f for f in frames if f.in_app] or list(frames)
    parts: list[str] = []
    for frame in chosen:
        # Never line numbers: an unrelated edit above the call must not split the group.
        part = f"{frame.module or frame.filename}:{frame.function}"
        if not parts or parts[-1] != part:  # collapse recursion so depth does not matter
            parts.append(part)
    return parts


def default_grouping_key(
    *,
    name: str | None,
    code: str | None,
    operation: str | None,
    message: str | None,
    frames: Sequence[Frame],
) -> list[str]:
    """Type + in-app frames when both exist, else code (or type) + operation + message."""
    if name and frames:
        return [name, *_frame_parts(frames)]
    # Without frames the message is all we have; the type stands in for a missing code so
    # a TypeError and a ValueError with the same text do not merge.
    return [code or name or "", operation or "", normalise_message(message or "")]


def fingerprint(
    *,
    custom: Sequence[str] | None,
    name: str | None,
    code: str | None,
    operation: str | None,
    message: str | None,
    frames: Sequence[Frame],
) -> str:
    """sha256 hex (64 chars) of the grouping key; a report's own fingerprint wins."""
    if isinstance(custom, str):  # a lone string is one element, not a list of characters
        custom = [custom]

    def default() -> list[str]:
        return default_grouping_key(
            name=name, code=code, operation=operation, message=message, frames=frames
        )

    if custom:
        parts: list[str] = []
        for element in custom:
            element = str(element)
            if element.replace(" ", "") == "{{default}}":  # Sentry also allows "{{default}}"
                parts.extend(default())
            else:
                parts.append(element)
    else:
        parts = default()
    material = _SEPARATOR.join([GROUPING_VERSION, *parts])
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def group_title(*, name: str | None, code: str | None, message: str | None,
                message_only: bool = False) -> str:
    """ "Name: first line of message" (Name falls back to code, then "Error").

    `message_only`: a message, not an error (a Sentry capture_message or log record), is
    titled by its first line alone, as Sentry shows it.
    """
    prefix = (name or "").strip() or (code or "").strip() or "Error"
    lines = (message or "").strip().splitlines()
    first = lines[0].strip() if lines else ""
    if message_only and first:
        return _truncate(first, _MAX_TITLE)
    return _truncate(f"{prefix}: {first}" if first else prefix, _MAX_TITLE)


def culprit(frames: Sequence[Frame], operation: str | None) -> str:
    """Where it happened: the innermost in-app frame, else the operation, else ""."""
    for frame in reversed(frames):
        if frame.in_app:
            where = frame.module or frame.filename
            return _truncate(f"{where} in {frame.function}", _MAX_TITLE)
    return _truncate(operation or "", _MAX_TITLE)
