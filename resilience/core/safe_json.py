"""JSON from strangers, read so that no input can stall, crash or poison storage (pure).

Python's json module has four traps for a server: nesting 100,000 deep recurses until
RecursionError, an integer of 5,000 digits raises ValueError (the int-to-string limit),
`NaN`/`Infinity` and `1e999` are read as floats that neither RFC 8259 nor PostgreSQL's jsonb
accept, and strings may hold lone surrogates (`"\\ud800"`) or NUL (`"\\u0000"`), which
PostgreSQL refuses in text and jsonb. `loads()` closes all four before or while parsing, at
the C parser's speed; `check()` applies the same limits to values built in Python (the
guard's context, a mapped Sentry event). Every refusal is an `UnsafeJSON` whose message
says what is wrong and where.

Documents are read by orjson (a C library, the one import beyond the standard library)
where it reads exactly what json.loads with the hooks below does; anything else it
refuses, or may read otherwise, goes to json.loads as before (`_plain_numbers`).
"""

import functools
import json
import math
import re
from typing import Any, Literal

import orjson

# Deeper documents are refused before parsing. Reports need a handful of levels (cause
# chains stop at 8); 64 leaves room for any real context or payload.
MAX_DEPTH = 64
# Integers are refused beyond this many digits: far above any id or counter (2**64 has
# 20), far below Python's 4,300-digit conversion limit.
MAX_INT_DIGITS = 64
MAX_NUMBER_CHARS = 400
REPLACEMENT = "\ufffd"

TextPolicy = Literal["keep", "refuse", "replace"]

# The nesting check keeps only quotes and brackets, with { } folded into [ ] (only the depth
# matters), and drops what is inside strings.
_STRUCTURE = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_QUOTED = re.compile(rb'"[^"]*"?')
# What a parsed document's nesting check keeps: quotes, brackets, backslashes and the
# characters a backslash escapes in JSON (RFC 8259, section 7).
_ESCAPED = b'"\\/bfnrtu'
_NOT_ESCAPE_OR_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{}" + _ESCAPED)
# Escapes that may decode to NUL or a surrogate (a hint to look closer, never a verdict:
# `\\u0000`, an escaped backslash, matches too).
_SUSPICIOUS_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
_INT_LIMIT = 10**MAX_INT_DIGITS

# Numbers orjson reads otherwise than the hooks below: an integer past 64 bits becomes a
# float there (every integer of 18 digits fits), and a number past MAX_INT_DIGITS or
# MAX_NUMBER_CHARS is read, not refused. Each of those has a run of 19 digits (a number
# without one has at most 58 characters). Such runs are looked for in the document's
# digits written as 0 (a translate, then bytes.find, both in C). A number out of range
# needs no look: orjson refuses it too, and the hooks' refusal is the one given. Every other
# float, exponents of three digits included, orjson reads as float() does.
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19
_NUMBER_BYTES = b"0123456789.eE+-"
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_WHITESPACE = b" \t\n\r"
# Longer than any number token before its first run of 19 digits (a sign, 18 digits, a
# point, 18 digits, an exponent's `e` and sign) and than the whitespace a body puts
# before a value.
_LOOKBACK = 64


class UnsafeJSON(ValueError):
    """The document or value is not JSON we store; str() says what and where."""

    def __init__(self, problem: str, path: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.segments: list[tuple[str, Any]] = []  # filled by check() on the way out
        self.locate(path)

    def locate(self, path: str) -> None:
        self.path = path
        self.args = (f"{path}: {self.problem}" if path else self.problem,)


# --- reading ------------------------------------------------------------------------------


def _outside_strings(raw: bytes, *, parsed: bool = False) -> bytes:
    """The brackets of `raw` that are not inside a string, as `[` and `]`.

    `parsed`: `raw` is a document json.loads read, so each of its backslashes starts one of
    JSON's escapes, whose second character is one of `_ESCAPED`. Every other byte but
    quotes and brackets is dropped first, without changing which escapes the replacements
    below find: a third of the bytes is left for them."""
    if parsed:
        raw = raw.translate(None, _NOT_ESCAPE_OR_STRUCTURE)
    # Escaped backslashes first, then escaped quotes: what is left of a string is "...".
    kept = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = kept.translate(_STRUCTURE, _NOT_STRUCTURE)
    # Two adjacent quotes enclose nothing (an empty string, or nothing between two
    # strings): dropping them keeps every other quote's role. Strings without brackets
    # vanish here in C; only strings that hold brackets reach the regular expression.
    kept = kept.replace(b'""', b"")
    return _QUOTED.sub(b"", kept) if b'"' in kept else kept


@functools.lru_cache(maxsize=4)
def _nesting_patterns(max_depth: int) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """(values, deeper): complete values at most `max_depth` deep, and the start of a value
    that opens bracket `max_depth + 1`. Possessive throughout, so both run in linear time."""
    pair = [b"", rb"\[\]"]  # pair[k]: one value at most k deep
    for _ in range(2, max_depth + 1):
        pair.append(rb"\[(?:" + pair[-1] + rb")*+\]")
    values = re.compile(rb"(?:" + pair[max_depth] + rb")*+")
    # Inside d open brackets, finished children are at most max_depth - d deep.
    deeper = b"".join(
        rb"\[" + (rb"(?:" + pair[max_depth - d] + rb")*+" if max_depth - d else b"")
        for d in range(1, max_depth + 1)
    ) + rb"\["
    return values, re.compile(deeper)


def _check_nesting(raw: bytes, max_depth: int, *, parsed: bool = False) -> None:
    """Refuse documents nested deeper than `max_depth`, in linear time and without
    recursing (bytes and regular-expression operations: a bomb costs what reading it does).
    `parsed` as for _outside_strings."""
    if _shallow(raw, max_depth):
        return
    brackets = _outside_strings(raw, parsed=parsed)
    values, deeper = _nesting_patterns(max_depth)
    end = values.match(brackets).end()
    # Past the complete values: the end, a stray `]` (the parser stops there), an unclosed
    # value that stays shallow (it stops at the end), or one that goes too deep.
    if end < len(brackets) and deeper.match(brackets, end):
        raise UnsafeJSON(f"is nested more than {max_depth} levels deep")


def _shallow(raw: bytes, max_depth: int) -> bool:
    """Too few brackets to be nested deeper than `max_depth`."""
    return raw.count(b"[") + raw.count(b"{") <= max_depth


def _parse_int(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        raise UnsafeJSON(f"has an integer of more than {MAX_INT_DIGITS} digits ({text[:20]}…)")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise UnsafeJSON(f"has a number of more than {MAX_NUMBER_CHARS} characters")
    value = float(text)
    if math.isinf(value):
        raise UnsafeJSON(f"has the number {text[:40]}, which is out of range")
    return value


def _parse_constant(name: str) -> Any:
    raise UnsafeJSON(f"has {name}, which is not JSON (RFC 8259 has no NaN or Infinity)")


def loads(raw: bytes, *, text: TextPolicy = "refuse", max_depth: int = MAX_DEPTH) -> Any:
    """Parse UTF-8 JSON with bounded nesting, numbers and text.

    `text` says what happens to NUL and lone surrogates in strings and keys: "refuse"
    (UnsafeJSON naming the path), "replace" (with U+FFFD), or "keep" (the caller validates
    every field itself, as report_schema does).
    """
    value = _read_fast(raw)
    if value is _NOT_READ:
        value = _read(raw, max_depth)
    else:
        _check_nesting(raw, max_depth, parsed=True)
    if text != "keep" and _SUSPICIOUS_ESCAPE.search(raw):
        value = check(value, repair=text == "replace", max_depth=max_depth)
    return value


_NOT_READ = object()


def _read_fast(raw: bytes) -> Any:
    """`raw` read by orjson, or _NOT_READ where json.loads must read it: orjson refuses it
    (so json.loads's refusal names the problem: lone surrogate escapes, NaN, bad UTF-8, a
    BOM, nesting past orjson's limit, any other error) or may read its numbers otherwise.
    For every other document both parsers return the same value, same types included
    (tests/resilience/test_safe_json_fast.py)."""
    if not _plain_numbers(raw):
        return _NOT_READ
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_READ


def _plain_numbers(raw: bytes) -> bool:
    """No number in `raw` has a run of 19 digits. Errs on the side of False: a run is
    passed over only where it cannot be in a number (ids in strings)."""
    shape = raw.translate(_DIGITS_AS_ZERO)
    at = shape.find(_LONG_RUN)
    while at != -1:
        if _may_be_number(raw, at):
            return False
        at = shape.find(_LONG_RUN, at + len(_LONG_RUN))
    return True


def _may_be_number(raw: bytes, at: int) -> bool:
    """Whether the digits at `at` may be part of a number: the number bytes before them
    start a number (in JSON's grammar) that reaches past `at`, and follow the document's
    start or `:`, `[`, `,` (whitespace between). Digits in an id inside a string
    ("9f3e0000000000000000000001", "txn 4111111111111111111") are not. Errs on the side of
    yes: past _LOOKBACK bytes it cannot tell."""
    window = max(0, at - _LOOKBACK)
    start = window + len(raw[window:at].rstrip(_NUMBER_BYTES))
    if start == window and window:
        return True
    number = _NUMBER.match(raw, start)
    if number is None or number.end() <= at:
        return False
    window = max(0, start - _LOOKBACK)
    before = raw[window:start].rstrip(_WHITESPACE)
    return not before or before[-1:] in (b":", b"[", b",")


def _read(raw: bytes, max_depth: int) -> Any:
    """json.loads with the hooks, its refusals as UnsafeJSON, and the nesting check."""
    try:
        document = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeJSON(f"is not UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start})") \
            from None
    if _shallow(raw, max_depth):
        return _parse(document)
    # A large body is parsed before its depth is checked, so the check can rely on its
    # escapes being JSON's (_outside_strings): the C parser itself stops at the recursion
    # limit, with RecursionError. Whatever the parser refuses is checked as before first,
    # so a document too deep is refused for that whatever else is wrong.
    try:
        value = _parse(document)
    except (UnsafeJSON, RecursionError):
        _check_nesting(raw, max_depth)
        raise
    _check_nesting(raw, max_depth, parsed=True)
    return value


def _parse(document: str) -> Any:
    try:
        return json.loads(document, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise UnsafeJSON(f"is not valid JSON: {exc.msg} at line {exc.lineno} column "
                         f"{exc.colno}") from None


def text_escapes(raw: bytes) -> bool:
    """Whether a JSON document may decode to NUL or a lone surrogate: only the escapes
    `\\u0000` and `\\ud800`-`\\udfff` can make them (raw, they are not valid UTF-8 or not
    valid JSON). False means every string in it is storable text as parsed."""
    return _SUSPICIOUS_ESCAPE.search(raw) is not None


# --- checking values built in Python ---------------------------------------------------------


def has_bad_text(value: str) -> bool:
    """True when `value` holds NUL or a lone surrogate (neither can be stored)."""
    return "\x00" in value or (not value.isascii() and _BAD_TEXT.search(value) is not None)


def text_problem(value: str) -> str | None:
    """What PostgreSQL would refuse in `value`, in words, or None."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if not value.isascii() and _BAD_TEXT.search(value):
        return "contains a lone surrogate (\\ud800-\\udfff), which is not Unicode text"
    return None


def replace_bad_text(value: str) -> str:
    """`value` with every NUL and lone surrogate replaced by U+FFFD."""
    return _BAD_TEXT.sub(REPLACEMENT, value) if has_bad_text(value) else value


def key_path(path: str, key: Any) -> str:
    """`path.key`, or `path['odd key']` for a key that is not plain (quoted, cut to 50)."""
    if isinstance(key, str):
        text = key
    elif isinstance(key, int) and not -_INT_LIMIT < key < _INT_LIMIT:
        text = "<a huge integer>"  # str() would refuse it
    else:
        text = str(key)
    if _PLAIN_KEY.match(text):
        return f"{path}.{text}" if path else text
    return f"{path}[{text[:50]!r}]"


def _text(value: str, replace: bool) -> str:
    problem = text_problem(value)
    if problem is None:
        return value
    if replace:
        return replace_bad_text(value)
    raise UnsafeJSON(problem)


# The walk names no path while it succeeds (formatting one per node would cost more than
# the check): a refusal collects its path on the way out, innermost segment first.
_INDEX, _KEY, _KEY_ITSELF = "index", "key", "key itself"


def _walk(value: Any, level: int, replace: bool, max_depth: int) -> Any:
    """`value` itself when storable as is, a repaired copy when only its text was not."""
    kind = type(value)
    if kind is str:
        return _text(value, replace)
    if value is None or kind is bool:
        return value
    if kind is dict or kind is list or kind is tuple:
        if level >= max_depth:
            raise UnsafeJSON(f"is nested more than {max_depth} levels deep")
        if kind is dict:
            return _walk_object(value, level + 1, replace, max_depth)
        return _walk_array(value, level + 1, replace, max_depth)
    if isinstance(value, str):
        return _text(value, replace)
    if isinstance(value, int):
        if not -_INT_LIMIT < value < _INT_LIMIT:
            raise UnsafeJSON(f"is an integer of more than {MAX_INT_DIGITS} digits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            if replace:  # as Sentry's SDKs send them: the text "nan", "inf", "-inf"
                return repr(value)
            raise UnsafeJSON(f"is {value}, which JSON cannot hold")
        return value
    if isinstance(value, dict | list | tuple):  # subclasses: OrderedDict, namedtuple, …
        if level >= max_depth:
            raise UnsafeJSON(f"is nested more than {max_depth} levels deep")
        if isinstance(value, dict):
            return _walk_object(value, level + 1, replace, max_depth)
        return _walk_array(value, level + 1, replace, max_depth)
    raise UnsafeJSON(f"is a {kind.__name__}, not a JSON value")


def _walk_array(value: list | tuple, level: int, replace: bool, max_depth: int) -> list:
    items = []
    changed = type(value) is not list  # a tuple comes back as the list JSON makes of it
    for index, item in enumerate(value):
        try:
            new = _walk(item, level, replace, max_depth)
        except UnsafeJSON as exc:
            exc.segments.append((_INDEX, index))
            raise
        changed = changed or new is not item
        items.append(new)
    return items if changed else value


def _walk_object(value: dict, level: int, replace: bool, max_depth: int) -> dict:
    changed = False
    out: dict[Any, Any] = {}
    for key, item in value.items():
        try:
            if type(key) is str:
                new_key = _text(key, replace)
            elif key is None or isinstance(key, int | float | str):  # json.dumps: as text
                new_key = _walk(key, level, replace, max_depth)
            else:
                raise UnsafeJSON(f"has a key of type {type(key).__name__}")
        except UnsafeJSON as exc:
            if not exc.segments:  # the key is the problem, not something inside it
                exc.segments.append((_KEY_ITSELF, key))
            raise
        try:
            new_item = _walk(item, level, replace, max_depth)
        except UnsafeJSON as exc:
            exc.segments.append((_KEY, key))
            raise
        changed = changed or new_key is not key or new_item is not item
        out[new_key] = new_item
    return out if changed else value


def _render(root: str, segments: list[tuple[str, Any]]) -> str:
    path, suffix = root, ""
    for kind, part in reversed(segments):
        if kind == _INDEX:
            path = f"{path}[{part}]"
        elif kind == _KEY:
            path = key_path(path, part)
        elif isinstance(part, str | int | float | bool) or part is None:
            path, suffix = key_path(path, part), " (the key)"
        else:  # a key that cannot be one: the object holding it is named
            path = path or "$"
    return path + suffix


def check(value: Any, *, repair: bool = False, max_depth: int = MAX_DEPTH,
          path: str = "") -> Any:
    """`value` if PostgreSQL's jsonb can hold it as it is, else UnsafeJSON naming the path.

    With `repair`, a copy is returned instead of a refusal where the meaning survives: NUL
    and lone surrogates in strings and keys become U+FFFD, NaN and infinities the text
    "nan", "inf", "-inf". Depth, huge integers and other types are always refused.
    """
    try:
        return _walk(value, 0, repair, max_depth)
    except UnsafeJSON as exc:
        exc.locate(_render(path, exc.segments))
        raise
