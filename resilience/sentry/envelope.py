"""The Sentry envelope format, framing only (pure: no Django, no JSON of the payloads).

https://develop.sentry.dev/sdk/data-model/envelopes/ — a header line (a JSON object), then
items: each a JSON header line with `type` and an optional `length`, and a payload. With
`length` the payload is exactly that many bytes, followed by a newline or the end; without
it, the payload runs to the next newline (or the end).
"""

from dataclasses import dataclass
from typing import Any

from resilience.core import safe_json


class EnvelopeError(ValueError):
    """The envelope cannot be framed; the message says where and why."""


@dataclass(frozen=True)
class Item:
    type: str
    headers: dict[str, Any]
    payload: bytes
    # Skipped for being over its own limit (framing.py's `skip_over`), not for its type.
    oversized: bool = False


@dataclass(frozen=True)
class Envelope:
    headers: dict[str, Any]
    items: list[Item]


def _line(data: bytes, start: int) -> tuple[bytes, int]:
    """The bytes from `start` to the next newline (or the end), and where the next line starts."""
    end = data.find(b"\n", start)
    if end == -1:
        return data[start:], len(data)
    return data[start:end], end + 1


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    # Bounded before it is parsed (headers are read before the key is known), and lenient
    # about text like the rest of the Sentry path: NUL and lone surrogates (a JavaScript
    # SDK cutting a string inside a surrogate pair) become U+FFFD instead of losing the event.
    try:
        value = safe_json.loads(raw, text="replace")
    except safe_json.UnsafeJSON as exc:
        raise EnvelopeError(f"{what} {exc}") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"{what} must be a JSON object")
    return value


def parse_envelope(data: bytes) -> Envelope:
    """Frame `data` into its header and items; EnvelopeError names the first problem."""
    if not data.strip():
        raise EnvelopeError("the envelope is empty")
    raw_header, pos = _line(data, 0)
    headers = _json_object(raw_header, "the envelope header")
    items: list[Item] = []
    size = len(data)
    while pos < size:
        raw_item_header, after_header = _line(data, pos)
        if not raw_item_header.strip():
            pos = after_header  # a blank line between items (or a trailing one)
            continue
        what = f"item {len(items) + 1}"
        item_headers = _json_object(raw_item_header, f"the header of {what}")
        item_type = item_headers.get("type")
        if not isinstance(item_type, str) or not item_type:
            raise EnvelopeError(f"the header of {what} has no type")
        length = item_headers.get("length")
        if after_header == size and not data.endswith(b"\n") and length != 0:
            raise EnvelopeError(f"the envelope is truncated: {what} ({item_type}) has no payload")
        if length is None:
            payload, pos = _line(data, after_header)
        else:
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise EnvelopeError(f"the length of {what} must be a non-negative integer")
            end = after_header + length
            if end > size:
                raise EnvelopeError(
                    f"the envelope is truncated: {what} ({item_type}) declares {length} bytes "
                    f"but {size - after_header} follow"
                )
            payload = data[after_header:end]
            if end < size and data[end : end + 1] != b"\n":
                raise EnvelopeError(
                    f"{what} ({item_type}) is longer than its declared length of {length} bytes"
                )
            pos = end + 1
        items.append(Item(type=item_type, headers=item_headers, payload=payload))
    return Envelope(headers=headers, items=items)


def parse_json_object(payload: bytes, what: str) -> dict[str, Any]:
    """An item's payload as a JSON object (EnvelopeError otherwise)."""
    return _json_object(payload, what)
