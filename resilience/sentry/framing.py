"""The envelope framed as it is decompressed (pure: no Django).

envelope.py frames a body that is already in memory. This reads the same format
(https://develop.sentry.dev/sdk/data-model/envelopes/) from the decompressed pieces, so
that the work a request costs is bounded by what it is allowed, not by what it sent:

- the header line can be read alone, within a small bound, to find the key (`dsn`)
  before anything more is decompressed;
- framing stops at the item limit, so millions of empty items cost the limit;
- the payloads of items that are not kept are skipped, never held in memory, and a kept
  payload over its limit is refused when its length says so, before it is read.

Errors are envelope.py's (same messages), plus the limits below.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from resilience.sentry.envelope import EnvelopeError, Item, parse_json_object


class LimitExceeded(Exception):
    """A part of the envelope is over its limit (answered 413); the message says which."""


class _Pieces:
    """Lines and byte counts read from an iterator of byte strings."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._buffer = bytearray()
        self._start = 0  # bytes of the buffer already consumed
        self._ended = False

    def _more(self) -> bool:
        """Append the next piece; False at the end."""
        if self._ended:
            return False
        piece = next(self._pieces, None)
        if piece is None:
            self._ended = True
            return False
        if self._start:
            del self._buffer[: self._start]
            self._start = 0
        self._buffer += piece
        return True

    def _available(self) -> int:
        return len(self._buffer) - self._start

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[self._start : self._start + size])
        self._start += len(data)
        return data

    def readline(self, limit: int | None = None) -> bytes:
        """The next line with its newline (none at the end); b"" at the end.

        LineTooLong once more than `limit` bytes come before the newline.
        """
        scanned = 0
        while True:
            newline = self._buffer.find(b"\n", self._start + scanned)
            if newline != -1:
                if limit is not None and newline - self._start > limit:
                    raise _LineTooLong
                return self._take(newline - self._start + 1)
            scanned = self._available()
            if limit is not None and scanned > limit:
                raise _LineTooLong
            if not self._more():
                return self._take(self._available())

    def skipline(self) -> None:
        """Past the next newline (or to the end), keeping nothing."""
        while True:
            newline = self._buffer.find(b"\n", self._start)
            if newline != -1:
                self._start = newline + 1
                return
            self._start = len(self._buffer)
            if not self._more():
                return

    def read(self, size: int) -> bytes:
        """`size` bytes, or fewer at the end."""
        while self._available() < size and self._more():
            pass
        return self._take(size)

    def skip(self, size: int) -> int:
        """Past `size` bytes (fewer at the end), keeping nothing; how many were skipped."""
        skipped = 0
        while True:
            step = min(size - skipped, self._available())
            self._start += step
            skipped += step
            if skipped == size or not self._more():
                return skipped

    def peek(self) -> bytes:
        """The next byte without consuming it (b"" at the end)."""
        while not self._available() and self._more():
            pass
        return bytes(self._buffer[self._start : self._start + 1])

    def rest_is_blank(self, limit: int | None) -> bool:
        """Whether only whitespace follows (reading at most `limit` bytes to tell)."""
        seen = 0
        while True:
            chunk = self._take(self._available())
            seen += len(chunk)
            if chunk.strip():
                return False
            if limit is not None and seen > limit:
                return False
            if not self._more():
                return True


class _LineTooLong(Exception):
    pass


class EnvelopeStream:
    """Read the header first (`header()`), then the items (`items()`)."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._in = _Pieces(pieces)

    def header(self, *, max_line: int | None = None) -> dict[str, Any]:
        """The envelope header; LimitExceeded when its line is over `max_line` bytes."""
        try:
            line = self._in.readline(max_line)
        except _LineTooLong:
            raise LimitExceeded(
                f"the envelope header is over {max_line} bytes; it carries only ids and the "
                "dsn, so the rest is not read"
            ) from None
        raw = line.removesuffix(b"\n")
        if not raw.strip() and self._in.rest_is_blank(max_line):
            raise EnvelopeError("the envelope is empty")
        return parse_json_object(raw, "the envelope header")

    def items(
        self,
        *,
        max_items: int,
        keep: Callable[[str], bool],
        max_kept: int,
        max_line: int | None = None,
        skip_over: Mapping[str, int] | None = None,
    ) -> Iterator[Item]:
        """Each item in turn; the payload of an item not kept is skipped and given as b"".

        LimitExceeded at the item after `max_items` (before its header is parsed), for a
        kept payload over `max_kept` bytes, and for an item header line over `max_line`.
        `skip_over` gives item types a limit of their own (an attachment's): one over it is
        skipped like an item not kept and given with `oversized=True`, never refused.
        """
        count = 0
        while True:
            try:
                line = self._in.readline(max_line)
            except _LineTooLong:
                raise LimitExceeded(
                    f"the header of item {count + 1} is over {max_line} bytes"
                ) from None
            if not line:
                return
            ended = not line.endswith(b"\n")  # the header line runs to the end of the body
            raw = line.removesuffix(b"\n")
            if not raw.strip():
                continue  # a blank line between items (or a trailing one)
            count += 1
            if count > max_items:
                raise LimitExceeded(f"the envelope has more than {max_items} items; send at "
                                    f"most {max_items} in one envelope")
            what = f"item {count}"
            headers = parse_json_object(raw, f"the header of {what}")
            item_type = headers.get("type")
            if not isinstance(item_type, str) or not item_type:
                raise EnvelopeError(f"the header of {what} has no type")
            length = headers.get("length")
            if ended and length != 0:
                raise EnvelopeError(f"the envelope is truncated: {what} ({item_type}) has no "
                                    "payload")
            kept = keep(item_type)
            own_limit = (skip_over or {}).get(item_type)
            limit = max_kept if own_limit is None else own_limit
            if length is None:
                payload, oversized = self._line_payload(what, item_type, kept, limit,
                                                        skippable=own_limit is not None)
            else:
                oversized = (kept and own_limit is not None and isinstance(length, int)
                             and length > own_limit)
                payload = self._sized_payload(what, item_type, length, kept and not oversized,
                                              limit)
            yield Item(type=item_type, headers=headers, payload=payload, oversized=oversized)

    def _line_payload(self, what: str, item_type: str, kept: bool, max_kept: int, *,
                      skippable: bool) -> tuple[bytes, bool]:
        """The payload and whether it was skipped for its size (only when `skippable`)."""
        if not kept:
            self._in.skipline()
            return b"", False
        try:
            return self._in.readline(max_kept).removesuffix(b"\n"), False
        except _LineTooLong:
            if skippable:
                self._in.skipline()
                return b"", True
            raise LimitExceeded(f"{what} ({item_type}) is over the limit for one event of "
                                f"{max_kept} bytes") from None

    def _sized_payload(
        self, what: str, item_type: str, length: object, kept: bool, max_kept: int
    ) -> bytes:
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise EnvelopeError(f"the length of {what} must be a non-negative integer")
        if kept and length > max_kept:
            raise LimitExceeded(f"{what} ({item_type}) is {length} bytes; the limit for one "
                                f"event is {max_kept}")
        if kept:
            payload = self._in.read(length)
            got = len(payload)
        else:
            payload, got = b"", self._in.skip(length)
        if got < length:
            raise EnvelopeError(f"the envelope is truncated: {what} ({item_type}) declares "
                                f"{length} bytes but {got} follow")
        after = self._in.peek()
        if after not in (b"", b"\n"):
            raise EnvelopeError(
                f"{what} ({item_type}) is longer than its declared length of {length} bytes"
            )
        self._in.skip(len(after))
        return payload
