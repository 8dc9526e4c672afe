"""resilience/core/safe_json.py: the one JSON reader for bodies from strangers (pure, no
database)."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.core import safe_json
from resilience.core.safe_json import MAX_DEPTH, UnsafeJSON, check, loads


def refused(raw: bytes, words: str, **kwargs) -> UnsafeJSON:
    with pytest.raises(UnsafeJSON) as caught:
        loads(raw, **kwargs)
    assert words in str(caught.value), str(caught.value)
    return caught.value


# --- nesting ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,
    b"[" * 100_000,  # never closed
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b"[" + b"[]," * 1000 + b"[" * 70 + b"]" * 70 + b"]",  # deep after a wide start
    # Each level also holds a sibling 63 deep: no long run of `[`, still too deep.
    b"".join(b"[" + b"[" * 63 + b"]" * 63 + b"," for _ in range(100)) + b"1" + b"]" * 100,
])
def test_documents_nested_deeper_than_the_limit_are_refused_before_parsing(raw):
    refused(raw, f"is nested more than {MAX_DEPTH} levels deep")


def test_the_limit_itself_is_accepted_and_brackets_inside_strings_do_not_count():
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    refused(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested")
    text = '["' + "[" * 1000 + '", "\\"[[[", "\\\\", "{{{"]'
    assert loads(text.encode()) == ["[" * 1000, '"[[[', "\\", "{{{"]


def test_malformed_brackets_get_the_parsers_own_message():
    refused(b"[" * 60 + b"[1,2}" + b"]" * 60, "is not valid JSON: Expecting ',' delimiter")
    refused(b"[]]" + b"[" * 100, "is not valid JSON: Extra data")


# --- numbers ------------------------------------------------------------------------------


def test_integers_beyond_the_limit_are_refused_not_a_valueerror():
    refused(b"1" * 4301, "has an integer of more than 64 digits")
    refused(b'{"errno": -' + b"9" * 65 + b"}", "more than 64 digits")
    assert loads(b"-" + b"9" * 64) == -int("9" * 64)


@pytest.mark.parametrize("raw, words", [
    (b"[NaN]", "has NaN, which is not JSON"),
    (b'{"a": Infinity}', "has Infinity"),
    (b"-Infinity", "has -Infinity"),
    (b"1e999", "has the number 1e999, which is out of range"),
    (b"-1e999", "out of range"),
    (b"1." + b"0" * 500, "has a number of more than 400 characters"),
])
def test_nan_infinity_and_overflowing_floats_are_refused(raw, words):
    refused(raw, words)


# --- text ---------------------------------------------------------------------------------


def test_lone_surrogates_and_nul_are_refused_by_default_naming_the_path():
    error = refused(b'{"context": {"user": "x\\ud800"}}', "lone surrogate")
    assert error.path == "context.user"
    error = refused(b'[{"tags": {"a\\u0000": "b"}}]', "NUL character")
    assert error.path == "[0].tags['a\\x00'] (the key)"


def test_replace_swaps_them_for_the_replacement_character_keys_too():
    raw = b'{"m\\u0000": ["a\\u0000b", "\\udc00", "\\ud83d\\ude00"]}'
    assert loads(raw, text="replace") == {"m\ufffd": ["a\ufffdb", "\ufffd", "\U0001F600"]}


def test_keep_leaves_them_for_a_validator_that_names_the_field():
    assert loads(b'"a\\u0000\\ud800"', text="keep") == "a\x00\ud800"


def test_an_escaped_backslash_before_u0000_is_text_not_nul():
    assert loads(b'"\\\\u0000"') == "\\u0000"


def test_bodies_that_are_not_utf8_are_refused():
    refused(b'"\xed\xa0\x80"', "is not UTF-8 (byte 0xed at offset 1)")  # a surrogate in UTF-8
    refused(b'"\xff"', "is not UTF-8")


# --- values built in Python -----------------------------------------------------------------


def test_check_refuses_what_jsonb_cannot_hold_and_names_where():
    for value, path, words in [
        ({"a": [1, float("nan")]}, "x.a[1]", "is nan"),
        ({"a": 10**5000}, "x.a", "more than 64 digits"),
        ({"a": {1, 2}}, "x.a", "is a set, not a JSON value"),
        ({("a",): 1}, "x", "has a key of type tuple"),
        ({"a": "b\x00"}, "x.a", "NUL character"),
    ]:
        with pytest.raises(UnsafeJSON) as caught:
            check(value, path="x")
        assert caught.value.path == path
        assert words in caught.value.problem


def test_check_bounds_depth_so_a_cycle_cannot_loop():
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(UnsafeJSON, match="nested more than 64"):
        check(cycle)


def test_check_returns_the_same_object_when_nothing_needs_repair():
    value = {"a": [1, 2.5, None, True, "text", {"b": "ü"}]}
    assert check(value) is value
    assert check(value, repair=True) is value
    repaired = check({"a": ["x\x00", float("nan"), float("-inf")]}, repair=True)
    assert repaired == {"a": ["x\ufffd", "nan", "-inf"]}


# --- properties ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_are_parsed_or_refused_with_unsafejson(raw):
    try:
        value = loads(raw)
    except UnsafeJSON:
        return
    assert check(value) == value  # whatever is read is storable


@settings(max_examples=300)
@given(st.text(alphabet='[]{}",:\\0123456789.eE-+tfnul NaIiy', max_size=300))
def test_json_like_text_is_parsed_or_refused_with_unsafejson(text):
    try:
        value = loads(text.encode())
    except UnsafeJSON:
        return
    assert check(value) == value  # whatever is read is storable


@settings(max_examples=300)
@given(json_values)
def test_what_python_writes_reads_back_equal_or_is_refused_for_its_text(value):
    raw = json.dumps(value).encode()
    try:
        assert loads(raw) == value
    except UnsafeJSON as exc:
        assert "NUL" in exc.problem or "surrogate" in exc.problem
        replaced = loads(raw, text="replace")
        assert not any(
            safe_json.has_bad_text(s) for s in _strings(replaced)
        )


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, float):
        assert math.isfinite(value)
