"""safe_json.loads through orjson (resilience/core/safe_json.py): the same value, same
types, or the same refusal as json.loads with the hooks, which read every document before
(pure: no database)."""

import json
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from resilience.core import safe_json
from resilience.core.safe_json import MAX_DEPTH, UnsafeJSON
from tests.resilience.typed_json import typed

POLICIES = st.sampled_from(["refuse", "replace", "keep"])


def loads_as_before(raw: bytes, **kwargs):
    """loads() with orjson left out: every document read by json.loads and the hooks."""
    with mock.patch.object(safe_json, "_read_fast", lambda raw: safe_json._NOT_READ):
        return safe_json.loads(raw, **kwargs)


def outcome(read, raw: bytes, **kwargs):
    try:
        return ("value", typed(read(raw, **kwargs)))
    except UnsafeJSON as exc:
        return ("refused", str(exc))


def assert_read_as_before(raw: bytes, text: str = "refuse") -> None:
    assert outcome(safe_json.loads, raw, text=text) == outcome(loads_as_before, raw, text=text)


# Numbers as JSON writes them, and as no one would: 19 digits and more, exponents of three
# digits and more (out of range, subnormal, leading zeros), signs, zeros.
DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=70)
NUMBER_TOKENS = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(2**65), max_value=2**65).map(str),
    st.integers(min_value=10**17, max_value=10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(lambda sign, whole, fraction, mark, exp_sign, exponent:
              f"{sign}{whole}{fraction}{mark}{exp_sign}{exponent}",
              st.sampled_from(["", "-"]), DIGITS, st.sampled_from(["", ".5"]) | DIGITS.map(
                  lambda d: "." + d), st.sampled_from(["e", "E"]),
              st.sampled_from(["", "+", "-"]),
              st.integers(min_value=0, max_value=400).map(str) | DIGITS),
    st.from_regex(r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,4})?\Z"),
)
TEXT = st.lists(st.characters(codec="utf-8") | st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\ufeff", "\\", '"', "\n", " 1234567890123456789012",
     "3e2f01234567890123456789"]), max_size=6).map("".join)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)
SEPARATORS = st.sampled_from([None, (",", ":"), (" , ", " : "), (",\n", ":\t")])


@settings(max_examples=1500, deadline=None)
@given(value=VALUES, ascii_only=st.booleans(), separators=SEPARATORS, text=POLICIES)
@example(value=[2**64, -(2**63) - 1, 10**30, 1e300, 5e-324], ascii_only=True, separators=None,
         text="refuse")
@example(value={"a": 1, "b": "\x00"}, ascii_only=True, separators=None, text="replace")
@example(value=float("nan"), ascii_only=True, separators=None, text="refuse")
def test_what_python_writes_is_read_as_before(value, ascii_only, separators, text):
    # A lone surrogate written raw (ensure_ascii=False) is bytes that are not UTF-8.
    raw = json.dumps(value, ensure_ascii=ascii_only, separators=separators).encode(
        "utf-8", "surrogatepass")
    assert_read_as_before(raw, text)


@settings(max_examples=3000, deadline=None)
@given(token=NUMBER_TOKENS, frame=st.sampled_from(
    ["{}", "[{}]", ' [ {} ] ', '{{"n":{}}}', '{{"n": \n{}}}', '[1,{},"x"]', '"{}"', '"id {}"',
     '["a",{}]', '{{"id":"ab{}"}}', "[{} ]"]))
def test_every_number_is_read_as_before(token, frame):
    assert_read_as_before(frame.replace("{}", token, 1).replace("{{", "{").replace("}}", "}")
                          .encode())


# Documents with bytes changed, dropped or added anywhere: bad UTF-8, BOMs, stray escapes,
# NaN, truncation.
FRAGMENTS = st.sampled_from([
    b"\xef\xbb\xbf", b"NaN", b"Infinity", b"-Infinity", b"\\u0000", b"\\ud800", b"\\udc00",
    b"\\ud83d\\ude00", b"\xed\xa0\x80", b"\xc0\x80", b"\xff", b"\x00", b"\\", b'"', b",",
    b"]", b"}", b"[", b"{", b"1e999", b"-0", b"12345678901234567890", b"\t", b"\x0c",
])


@settings(max_examples=2000, deadline=None)
@given(value=VALUES, edits=st.lists(st.tuples(st.integers(min_value=0), FRAGMENTS,
                                              st.integers(min_value=0, max_value=2)),
                                    max_size=3), text=POLICIES)
def test_a_document_with_bytes_changed_is_read_or_refused_as_before(value, edits, text):
    raw = json.dumps(value).encode()
    for at, fragment, dropped in edits:
        at %= len(raw) + 1
        raw = raw[:at] + fragment + raw[at + dropped:]
    assert_read_as_before(raw, text)


@settings(max_examples=500, deadline=None)
@given(raw=st.binary(max_size=200), text=POLICIES)
def test_any_bytes_are_read_or_refused_as_before(raw, text):
    assert_read_as_before(raw, text)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 1_000, 1_023,
                                   1_024, 1_025, 5_000])
def test_deep_documents_are_read_or_refused_as_before(depth):
    assert_read_as_before(b"[" * depth + b"1" + b"]" * depth)
    assert_read_as_before(b'{"a":' * depth + b"1" + b"}" * depth)
    assert_read_as_before(b"[" * depth + b"NaN" + b"]" * depth)


@pytest.mark.parametrize("raw, expected", [
    (b"123456789012345678901234567890", ("value", ("int", 123456789012345678901234567890))),
    (b"[-9223372036854775809]", ("value", ("list", [("int", -9223372036854775809)]))),
    (b'{"a":1,"b":2,"a":3}', ("value", ("dict", [("a", ("int", 3)), ("b", ("int", 2))]))),
    (b"[1e999]", ("refused", "has the number 1e999, which is out of range")),
    (b"1" * 65, ("refused", f"has an integer of more than 64 digits ({'1' * 20}…)")),
    (b"\xef\xbb\xbf{}", ("refused", "is not valid JSON: Unexpected UTF-8 BOM (decode using "
                                    "utf-8-sig) at line 1 column 1")),
])
def test_what_orjson_reads_otherwise_or_refuses_gets_todays_answer(raw, expected):
    assert outcome(safe_json.loads, raw) == expected


def test_an_ordinary_body_is_read_by_orjson_alone():
    """Ids in strings (hex, with long runs of digits), 18-digit integers and three-digit
    exponents stay on the fast path: were json.loads needed, this would raise."""
    raw = json.dumps({
        "event_id": "3e2f0123456789012345678901234567",
        "trace": "9f3e0000000000000000000001", "message": "txn 4111111111111111111 failed",
        "count": 999_999_999_999_999_999, "ratio": 1.5e-300, "tags": {"a": "1e100"},
    }).encode()
    with mock.patch.object(safe_json, "_read", side_effect=AssertionError("json.loads ran")):
        assert safe_json.loads(raw)["count"] == 999_999_999_999_999_999
