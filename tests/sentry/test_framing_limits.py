"""Item types with a size limit of their own (attachments): over it, the item is skipped
and marked, the envelope is not refused (pure: no database)."""

from resilience.sentry.framing import EnvelopeStream


def items(body: bytes, **limits):
    stream = EnvelopeStream([body])
    stream.header()
    return list(stream.items(max_items=10, keep=lambda _t: True, max_kept=100, **limits))


def test_a_sized_item_over_its_own_limit_is_skipped_and_marked():
    body = (b'{}\n{"type":"attachment","length":6}\nabcdef\n'
            b'{"type":"attachment","length":3}\nabc\n{"type":"event"}\n{}\n')
    framed = items(body, skip_over={"attachment": 5})
    assert [(i.type, i.payload, i.oversized) for i in framed] == [
        ("attachment", b"", True), ("attachment", b"abc", False), ("event", b"{}", False)]


def test_a_line_item_over_its_own_limit_is_skipped_to_its_newline():
    body = b'{}\n{"type":"check_in"}\n' + b"x" * 50 + b'\n{"type":"event"}\n{}\n'
    framed = items(body, skip_over={"check_in": 10})
    assert [(i.type, i.oversized) for i in framed] == [("check_in", True), ("event", False)]


def test_its_own_limit_may_be_above_the_event_limit():
    body = b'{}\n{"type":"attachment","length":150}\n' + b"y" * 150 + b"\n"
    [item] = items(body, skip_over={"attachment": 200})
    assert (len(item.payload), item.oversized) == (150, False)
