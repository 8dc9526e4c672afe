"""Decompression within limits, chunked decoding (pure: no database)."""

import gzip
import io
import time
import tracemalloc
import zlib

import pytest

from resilience.sentry.decoding import (
    BadBody,
    BodyTooLarge,
    UnsupportedEncoding,
    dechunk,
    decode_body,
    maybe_legacy_store_body,
)
from tests.sentry.envelopes import compress, zeros_bomb

DATA = b'{"message": "hello"}\n' * 500
MiB = 1024 * 1024


def pieces(data: bytes, size: int = 1000):
    return (data[i : i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw", "br", "zstd", "identity"])
@pytest.mark.parametrize("piece_size", [1, 7, 65536])
def test_every_supported_encoding_decodes_in_pieces(encoding, piece_size):
    body = compress(DATA, encoding)
    header = "deflate" if encoding == "deflate-raw" else encoding
    assert decode_body(pieces(body, piece_size), header, max_decompressed=len(DATA)) == DATA


def test_gzip_with_several_members_is_read_whole():
    body = gzip.compress(b"one ") + gzip.compress(b"two")
    assert decode_body([body], "gzip", max_decompressed=100) == b"one two"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "identity"])
def test_a_body_one_byte_over_the_limit_is_too_large(encoding):
    body = compress(DATA, encoding)
    with pytest.raises(BodyTooLarge) as caught:
        decode_body(pieces(body), encoding, max_decompressed=len(DATA) - 1)
    assert caught.value.what == "decompressed"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_a_decompression_bomb_stops_at_the_limit_without_inflating_it(encoding):
    # 200 MB of zeros, a few hundred KB compressed.
    limit = 4 * MiB
    bomb = zeros_bomb(encoding)
    assert len(bomb) < 1 * MiB
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(BodyTooLarge):
            decode_body(pieces(bomb, 65536), encoding, max_decompressed=limit)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2
    # The output up to the limit plus the decompressor's own buffers (brotli's window is
    # up to 16 MiB): bounded by the limit, never by the 200 MB the bomb would inflate to.
    assert peak < limit + 20 * MiB


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_a_truncated_compressed_body_is_refused(encoding):
    body = compress(DATA, encoding)
    with pytest.raises(BadBody, match=r"truncated|corrupt"):
        decode_body([body[: len(body) // 2]], encoding, max_decompressed=len(DATA))


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_garbage_that_claims_to_be_compressed_is_refused(encoding):
    with pytest.raises(BadBody):
        decode_body([b"this is not compressed at all" * 10], encoding, max_decompressed=MiB)


def test_an_unknown_encoding_is_refused():
    with pytest.raises(UnsupportedEncoding, match="lzma"):
        decode_body([b"x"], "lzma", max_decompressed=10)


def test_an_empty_compressed_body_is_empty():
    assert decode_body([], "gzip", max_decompressed=10) == b""


def test_chunked_transfer_coding_is_decoded():
    raw = io.BytesIO(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT")
    assert b"".join(dechunk(raw.read, raw.readline)) == b"hello world"
    assert raw.read() == b"NEXT"


@pytest.mark.parametrize("raw", [b"5\r\nhel", b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhello\r\n"])
def test_a_broken_chunked_body_is_refused(raw):
    stream = io.BytesIO(raw)
    with pytest.raises(BadBody):
        b"".join(dechunk(stream.read, stream.readline))


def test_old_clients_base64_zlib_store_bodies_are_decoded():
    import base64

    body = base64.b64encode(zlib.compress(b'{"message": "old"}'))
    assert maybe_legacy_store_body(body, max_decompressed=100) == b'{"message": "old"}'
    assert maybe_legacy_store_body(b'{"a": 1}', max_decompressed=100) == b'{"a": 1}'
