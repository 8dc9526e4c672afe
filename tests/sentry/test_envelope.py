"""The envelope framing parser (pure)."""

import pytest

from resilience.sentry.envelope import EnvelopeError, parse_envelope


def test_it_frames_length_prefixed_and_newline_terminated_items():
    data = (
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://k@h/1"}\n'
        b'{"type":"attachment","length":10}\n'
        b"\xef\xbb\xbfHello\r\n\n"
        b'{"type":"event"}\n'
        b'{"message":"hello"}\n'
    )
    env = parse_envelope(data)
    assert env.headers["dsn"] == "https://k@h/1"
    assert [i.type for i in env.items] == ["attachment", "event"]
    assert env.items[0].payload == b"\xef\xbb\xbfHello\r\n"  # binary, newline included
    assert env.items[1].payload == b'{"message":"hello"}'


def test_a_length_prefixed_payload_may_contain_newlines_and_end_without_one():
    data = b'{}\n{"type":"event","length":8}\n{"a":\n1}'
    env = parse_envelope(data)
    assert env.items[0].payload == b'{"a":\n1}'


def test_the_last_item_may_end_at_eof_without_a_newline():
    env = parse_envelope(b'{}\n{"type":"session"}\n{"started":"x"}')
    assert env.items[0].payload == b'{"started":"x"}'


def test_an_envelope_with_only_a_header_has_no_items():
    assert parse_envelope(b'{"event_id":"x"}\n').items == []
    assert parse_envelope(b'{"event_id":"x"}').items == []


def test_blank_lines_between_items_are_skipped():
    env = parse_envelope(b'{}\n{"type":"a"}\n{}\n\n{"type":"b","length":2}\n{}\n')
    assert [i.type for i in env.items] == ["a", "b"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"not json\n", "envelope header is not valid JSON"),
        (b"[1]\n", "envelope header must be a JSON object"),
        (b'{}\n{"type":"event","length":100}\n{"short":1}\n', "truncated"),
        (b'{}\n{"type":"event"}', "truncated"),
        (b'{}\n{"length":2}\n{}\n', "has no type"),
        (b'{}\n{"type":"event","length":-1}\n{}\n', "non-negative integer"),
        (b'{}\n{"type":"event","length":"2"}\n{}\n', "non-negative integer"),
        (b'{}\n{"type":"event","length":2}\n{}X\n', "longer than its declared length"),
        (b'{}\nnot json\n{}\n', "header of item 1 is not valid JSON"),
        (b'{"a": "\xc3\x28"}\n', "not UTF-8"),
    ],
)
def test_a_malformed_envelope_is_refused_with_what_is_wrong(data, problem):
    with pytest.raises(EnvelopeError, match=problem):
        parse_envelope(data)
