"""Reading a request body in bounded pieces and decompressing it within a limit.

Sentry SDKs compress with gzip (Python, Node), and other clients use deflate, br or zstd
(https://develop.sentry.dev/sdk/overview/#request-compression). Node sends chunked
bodies without a Content-Length. Nothing here inflates a body whole: every decompressor is
driven with a bound on its output, so a decompression bomb is refused after at most
`max_decompressed` + one step of output, however large it would have grown; and it is
driven only as far as the caller reads (`decode_stream`), so a caller that needs only the
first line decompresses little more than that line.
"""

import io
import zlib
from collections.abc import Callable, Iterable, Iterator

import brotli
import zstandard
from django.core.handlers.wsgi import LimitedStream

from resilience.observability.process_metrics import BODY_DECOMPRESSED_BYTES

PIECE = 64 * 1024
ENCODINGS = ("identity", "gzip", "x-gzip", "deflate", "br", "zstd")


class BodyTooLarge(Exception):
    """The body (as sent, or decompressed) is over its limit; `what` says which."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"the {what} body is over the limit of {limit} bytes")
        self.what = what
        self.limit = limit


class BadBody(ValueError):
    """The body cannot be decoded: unknown encoding, corrupt or truncated stream."""


class UnsupportedEncoding(BadBody):
    pass


# --- the bytes as sent -------------------------------------------------------------------


def dechunk(read: Callable[[int], bytes], readline: Callable[[int], bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer coding → the payload, piece by piece (RFC 9112 §7.1)."""
    while True:
        line = readline(1024)
        if not line.endswith(b"\n"):
            raise BadBody("the chunked body ends inside a chunk header")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadBody("the chunked body has a malformed chunk size") from None
        if size == 0:
            while readline(1024) not in (b"\r\n", b"\n", b""):  # trailer fields
                pass
            return
        while size:
            data = read(min(size, PIECE))
            if not data:
                raise BadBody("the chunked body ends inside a chunk")
            size -= len(data)
            yield data
        readline(2)  # the CRLF after the chunk


def request_chunks(request, *, limit: int) -> Iterator[bytes]:
    """The raw body of a Django request in pieces; BodyTooLarge past `limit` bytes.

    With a Content-Length it is refused before anything is read. Without one (chunked),
    a server that de-chunks and says so (`wsgi.input_terminated`: gunicorn, uWSGI,
    mod_wsgi) is read to the end of its input; Django's own development and test server
    does not de-chunk and hides the body behind a zero-length stream, so the chunks are
    decoded here from the socket underneath.
    """
    meta = request.META
    declared = meta.get("CONTENT_LENGTH")
    if declared:
        if not declared.isdigit():
            raise BadBody("Content-Length is not a number")
        if int(declared) > limit:
            raise BodyTooLarge("compressed" if _encoded(meta) else "request", limit)
        pieces: Iterable[bytes] = iter(lambda: request.read(PIECE), b"")
    elif meta.get("wsgi.input_terminated"):
        stream = meta["wsgi.input"]
        pieces = iter(lambda: stream.read(PIECE), b"")
    elif "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        stream = meta["wsgi.input"]
        if isinstance(stream, LimitedStream) and stream.limit == 0:
            pieces = dechunk(stream._read, stream._readline)
        else:
            pieces = iter(lambda: stream.read(PIECE), b"")
    else:
        return
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > limit:
            raise BodyTooLarge("compressed" if _encoded(meta) else "request", limit)
        yield piece


def _encoded(meta) -> bool:
    return meta.get("HTTP_CONTENT_ENCODING", "identity").strip().lower() not in ("", "identity")


# --- decompression -----------------------------------------------------------------------

# The most one decompression step produces. Small, so a reader that wants only the first
# line (the envelope header, to find the key) makes the decompressor do little more.
STEP = 16 * 1024


def decode_stream(
    pieces: Iterable[bytes], encoding: str | None, *, max_decompressed: int
) -> Iterator[bytes]:
    """The body decompressed per `encoding` (a Content-Encoding value), step by step.

    Nothing is decompressed until the result is read, and no more than is read (plus one
    step); BodyTooLarge once the output passes `max_decompressed`. An unknown encoding is
    refused here, before anything is read.
    """
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return _bounded(iter(pieces), max_decompressed, counted=False)
    if name in ("gzip", "x-gzip"):
        steps = _inflate(pieces, wbits=16 + zlib.MAX_WBITS)
    elif name == "deflate":
        steps = _inflate(pieces, wbits=None)
    elif name == "br":
        steps = _brotli(pieces)
    elif name == "zstd":
        steps = _zstd(pieces)
    else:
        raise UnsupportedEncoding(
            f"Content-Encoding {encoding!r} is not supported; use one of "
            "gzip, deflate, br, zstd or none"
        )
    return _bounded(steps, max_decompressed, counted=True)


def decode_body(
    pieces: Iterable[bytes], encoding: str | None, *, max_decompressed: int
) -> bytes:
    """The whole body decompressed per `encoding`, within a limit."""
    return b"".join(decode_stream(pieces, encoding, max_decompressed=max_decompressed))


def _bounded(steps: Iterator[bytes], limit: int, *, counted: bool) -> Iterator[bytes]:
    total = 0
    for data in steps:
        if not data:
            continue
        total += len(data)
        if counted:
            BODY_DECOMPRESSED_BYTES.inc(len(data))
        if total > limit:
            raise BodyTooLarge("decompressed", limit)
        yield data


def _looks_like_zlib(head: bytes) -> bool:
    # RFC 1950: CM = 8 (deflate) and the 16-bit header is a multiple of 31.
    return len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0


def _inflate(pieces: Iterable[bytes], wbits: int | None) -> Iterator[bytes]:
    """gzip (several members allowed), or "deflate": zlib-wrapped or raw (both are sent)."""
    pieces = iter(pieces)
    decompressor = None
    produced = False
    for piece in pieces:
        data = piece
        while data:
            if decompressor is None:
                if wbits is None:
                    # Decide on the first two bytes; they may arrive one at a time.
                    if len(data) < 2:
                        data += next(pieces, b"")
                    chosen = zlib.MAX_WBITS if _looks_like_zlib(data) else -zlib.MAX_WBITS
                else:
                    chosen = wbits
                decompressor = zlib.decompressobj(chosen)
            try:
                out = decompressor.decompress(data, STEP)
            except zlib.error as exc:
                raise BadBody(f"the compressed body is corrupt ({exc})") from None
            produced = produced or bool(out)
            yield out
            data = decompressor.unconsumed_tail
            # A full step may leave output inside zlib with no input left to pass it.
            while not data and len(out) == STEP and not decompressor.eof:
                out = decompressor.decompress(b"", STEP)
                yield out
            if decompressor.eof:
                rest = decompressor.unused_data + data
                if rest and wbits is not None and rest.strip(b"\0"):
                    decompressor, data = None, rest  # the next gzip member
                else:
                    data = b""
    if decompressor is None or not decompressor.eof:
        if decompressor is None and not produced:
            return  # an empty body stays empty
        raise BadBody("the compressed body is truncated")


def _brotli(pieces: Iterable[bytes]) -> Iterator[bytes]:
    decompressor = brotli.Decompressor()
    try:
        for piece in pieces:
            yield decompressor.process(piece, output_buffer_limit=STEP)
            while not decompressor.can_accept_more_data():
                yield decompressor.process(b"", output_buffer_limit=STEP)
        # Output held back by the limit when the last input went in: brotli 1.2 reports
        # it can accept more data then, so drain until nothing more comes.
        while not decompressor.is_finished():
            out = decompressor.process(b"", output_buffer_limit=STEP)
            if not out:
                break
            yield out
    except brotli.error as exc:
        raise BadBody(f"the compressed body is corrupt ({exc})") from None
    if not decompressor.is_finished():
        raise BadBody("the compressed body is truncated")


class _PieceReader(io.RawIOBase):
    """A file-like view of an iterator of byte strings (what zstandard reads from)."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._buffer:
            piece = next(self._pieces, None)
            if piece is None:
                return b""
            self._buffer = piece
        size = len(self._buffer) if size is None or size < 0 else size
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _zstd(pieces: Iterable[bytes]) -> Iterator[bytes]:
    reader = zstandard.ZstdDecompressor().stream_reader(
        _PieceReader(pieces), read_across_frames=True
    )
    try:
        while True:
            data = reader.read(STEP)
            if not data:
                return
            yield data
    except zstandard.ZstdError as exc:
        raise BadBody(f"the compressed body is corrupt ({exc})") from None


def maybe_legacy_store_body(body: bytes, *, max_decompressed: int) -> bytes:
    """Old clients post /store/ bodies as base64 of zlib-compressed JSON, unannounced."""
    head = body.lstrip()[:1]
    if not head or head == b"{":
        return body
    import base64
    import binascii

    try:
        raw = base64.b64decode(body.strip(), validate=True)
    except (binascii.Error, ValueError):
        return body  # not base64 either: the JSON parser will say what is wrong
    return decode_body([raw], "deflate", max_decompressed=max_decompressed)
