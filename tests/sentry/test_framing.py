"""Framing an envelope as it is decompressed (pure: no database).

The stream must frame exactly as envelope.parse_envelope does, in pieces of any size, and
do no more work than its limits allow.
"""

import gzip
import json
import random
import zlib

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.sentry.decoding import STEP, UnsupportedEncoding, decode_body, decode_stream
from resilience.sentry.envelope import EnvelopeError, parse_envelope
from resilience.sentry.framing import EnvelopeStream, LimitExceeded

EVERYTHING = 10**9


def pieces_of(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


class Counted:
    """Pieces that remember how many bytes were pulled from them."""

    def __init__(self, data: bytes, size: int = 64) -> None:
        self._pieces = iter(pieces_of(data, size))
        self.pulled = 0

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        piece = next(self._pieces)
        self.pulled += len(piece)
        return piece


def stream_parse(data: bytes, size: int, **limits):
    stream = EnvelopeStream(pieces_of(data, size))
    headers = stream.header()
    items = list(stream.items(max_items=limits.get("max_items", EVERYTHING),
                              keep=limits.get("keep", lambda _type: True),
                              max_kept=limits.get("max_kept", EVERYTHING)))
    return headers, items


def outcome(parse):
    try:
        headers, items = parse()
    except EnvelopeError as exc:
        return ("refused", str(exc))
    return ("framed", headers, [(i.type, i.headers, i.payload) for i in items])


TOKENS = [
    b"{}", b"\n", b"\n", b'{"type":"event"}', b'{"type":"a","length":2}',
    b'{"type":"b","length":0}', b'{"length":1}', b'{"type":"c","length":-1}', b"xy", b"  ",
    b'{"a":1}', b"not json", b'{"type":"d","length":"2"}', b"\xc3\x28", b"[1]",
    b'{"type":"e","length":5}', b"ab\ncd", b'{"type":"f","length":false}',
    # whole pieces, so that longer well-formed envelopes (and near misses) come up often
    b"{}\n", b'{"type":"a","length":2}\nxy', b'{"type":"event"}\n{"m":1}',
    b'{"type":"b","length":0}\n',
]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=14), st.integers(min_value=1, max_value=9))
def test_the_stream_frames_exactly_like_parse_envelope(tokens, size):
    data = b"".join(tokens)
    def in_memory():
        envelope = parse_envelope(data)
        return envelope.headers, envelope.items

    assert outcome(lambda: stream_parse(data, size)) == outcome(in_memory)


@pytest.mark.parametrize("data", [
    b"", b"  \n \n", b"not json\n", b"[1]\n", b'{"a": "\xc3\x28"}\n',
    b'{"event_id":"x"}', b'{"event_id":"x"}\n', b"\n{}\n",
    b'{}\n{"type":"event","length":100}\n{"short":1}\n', b'{}\n{"type":"event"}',
    b'{}\n{"length":2}\n{}\n', b'{}\n{"type":"event","length":-1}\n{}\n',
    b'{}\n{"type":"event","length":"2"}\n{}\n', b'{}\n{"type":"event","length":2}\n{}X\n',
    b'{}\n{"type":"event","length":2}\n{}x\n', b'{}\nnot json\n{}\n',
    b'{}\n{"type":"a"}\n{}\n\n{"type":"b","length":2}\n{}\n',
    b'{}\n{"type":"session"}\n{"started":"x"}', b'{}\n{"type":"b","length":0}',
    b'{}\n{"type":"event","length":8}\n{"a":\n1}',
])
@pytest.mark.parametrize("size", [1, 2, 5, 1000])
def test_known_cases_frame_like_parse_envelope(data, size):
    def in_memory():
        envelope = parse_envelope(data)
        return envelope.headers, envelope.items

    assert outcome(lambda: stream_parse(data, size)) == outcome(in_memory)


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_items_not_kept_are_skipped_and_kept_ones_whole(size):
    data = (b'{"event_id":"x"}\n{"type":"attachment","length":7}\nHello\r\n\n\n'
            b'{"type":"session"}\n{"sid":"a"}\n{"type":"event"}\n{"message":"hi"}\n')
    _headers, items = stream_parse(data, size, keep=lambda t: t == "event")
    assert [(i.type, i.payload) for i in items] == [
        ("attachment", b""), ("session", b""), ("event", b'{"message":"hi"}')]


def test_framing_stops_at_the_item_limit_before_reading_further():
    body = b"{}\n" + b'{"type":"a"}\n\n' * 100_000
    counted = Counted(body)
    stream = EnvelopeStream(counted)
    stream.header()
    framed = []
    with pytest.raises(LimitExceeded, match="more than 10 items"):
        framed.extend(stream.items(max_items=10, keep=lambda _type: True, max_kept=100))
    assert len(framed) == 10
    assert counted.pulled <= 3 + 11 * 14 + 64  # the header, 11 item headers, one piece


def test_a_kept_payload_over_its_limit_is_refused_by_its_length_before_it_is_read():
    body = b'{}\n{"type":"event","length":5000000}\n' + b"x" * 5_000_000 + b"\n"
    counted = Counted(body, size=1024)
    stream = EnvelopeStream(counted)
    stream.header()
    with pytest.raises(LimitExceeded, match=r"item 1 \(event\) is 5000000 bytes; the limit"):
        list(stream.items(max_items=10, keep=lambda _type: True, max_kept=1000))
    assert counted.pulled <= 2 * 1024


def test_a_kept_line_payload_over_its_limit_is_refused_at_the_limit():
    body = b'{}\n{"type":"event"}\n' + b"x" * 5_000_000 + b"\n"
    counted = Counted(body, size=1024)
    stream = EnvelopeStream(counted)
    stream.header()
    with pytest.raises(LimitExceeded, match="over the limit for one event of 1000 bytes"):
        list(stream.items(max_items=10, keep=lambda _type: True, max_kept=1000))
    assert counted.pulled <= 3 * 1024


def test_the_header_line_is_read_within_its_bound_only():
    counted = Counted(b'{"dsn":"' + b"x" * 1_000_000 + b'"}\n', size=512)
    with pytest.raises(LimitExceeded, match="envelope header is over 8192 bytes"):
        EnvelopeStream(counted).header(max_line=8192)
    assert counted.pulled <= 8192 + 512


def test_a_header_within_its_bound_leaves_the_rest_unread():
    counted = Counted(b'{"dsn":"http://k@h/1"}\n' + b"x" * 1_000_000, size=512)
    assert EnvelopeStream(counted).header(max_line=8192) == {"dsn": "http://k@h/1"}
    assert counted.pulled == 512


@pytest.mark.parametrize("size", [1, 5, 100])
def test_an_item_header_over_its_bound_is_refused(size):
    stream = EnvelopeStream(pieces_of(b'{}\n{"type":"' + b"a" * 300 + b'"}\n{}\n', size))
    stream.header()
    with pytest.raises(LimitExceeded, match="header of item 1 is over 100 bytes"):
        list(stream.items(max_items=5, keep=lambda _type: True, max_kept=10, max_line=100))


# --- decode_stream: lazy, and every byte out of every encoding -------------------------


def compress(data: bytes, encoding: str) -> bytes:
    return {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": lambda d: brotli.compress(d, quality=4),
        "zstd": zstandard.ZstdCompressor().compress,
        "identity": bytes,
    }[encoding](data)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "identity"])
@pytest.mark.parametrize("size", [7, 65536, 10**8])
def test_every_byte_comes_out_when_output_is_taken_a_step_at_a_time(encoding, size):
    # Highly compressible runs end the body: a decompressor whose output is capped per step
    # must still hand over what it holds once the input is used up.
    rng = random.Random(7)
    data = json.dumps([rng.random() for _ in range(20_000)]).encode() + b"a" * 3_000_000
    body = compress(data, encoding)
    assert decode_body(pieces_of(body, size), encoding, max_decompressed=len(data)) == data


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_decompression_goes_only_as_far_as_the_reader(encoding):
    body = compress(b"x" * 20_000_000, encoding)
    steps = decode_stream(pieces_of(body, 65536), encoding, max_decompressed=50_000_000)
    first = next(steps)
    assert 0 < len(first) <= 2 * STEP  # brotli may overshoot its output limit a little


def test_an_unknown_encoding_is_refused_before_anything_is_read():
    def never():
        raise AssertionError("the body was read")
        yield b""

    with pytest.raises(UnsupportedEncoding):
        decode_stream(never(), "lzma", max_decompressed=10)
