"""A large body's depth, read after parsing (resilience/core/safe_json.py): the same
verdicts, in the same order, as reading it before (pure: no database)."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.core import safe_json
from resilience.core.safe_json import MAX_DEPTH, UnsafeJSON


def checked_first(raw: bytes):
    """loads() as it was: the depth of the whole body checked, then parsed."""
    document = raw.decode("utf-8")
    safe_json._check_nesting(raw, MAX_DEPTH)
    return safe_json._parse(document)


def outcome(read, raw: bytes):
    try:
        return ("value", read(raw))
    except UnsafeJSON as exc:
        return ("refused", str(exc))


# Strings full of what the depth check must see through: brackets, quotes, backslashes
# and every escape JSON has, written out by json.dumps as it escapes them.
TRICKY_TEXT = st.text(alphabet='[]{}"\\/\b\f\n\r\tu\u00e9x', max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY_TEXT, inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(value=VALUES, ascii_only=st.booleans(), depth=st.integers(min_value=0, max_value=70))
def test_a_parsed_documents_brackets_are_read_as_from_the_whole_text(value, ascii_only, depth):
    raw = ("[" * depth + json.dumps(value, ensure_ascii=ascii_only) + "]" * depth).encode()
    assert safe_json._outside_strings(raw, parsed=True) == safe_json._outside_strings(raw)
    assert outcome(safe_json.loads, raw) == outcome(checked_first, raw)


# Mostly not JSON: unbalanced, bad escapes, odd numbers, with enough brackets (over
# MAX_DEPTH) that loads() parses before it checks.
@settings(max_examples=1000, deadline=None)
@given(head=st.integers(min_value=0, max_value=80),
       text=st.text(alphabet='[]{}",:\\ntu019.eE-NaI ', max_size=200),
       tail=st.integers(min_value=0, max_value=80))
def test_any_body_is_read_or_refused_as_when_its_depth_was_checked_first(head, text, tail):
    raw = ("[" * head + text + "]" * tail).encode()
    assert outcome(safe_json.loads, raw) == outcome(checked_first, raw)


def test_a_body_deeper_than_the_parser_goes_is_refused_for_its_depth():
    raw = b'[{"a": "\\"[", "b": ' + b"[" * 5_000 + b"1" + b"]" * 5_000 + b"}]"
    assert outcome(safe_json.loads, raw) == (
        "refused", f"is nested more than {MAX_DEPTH} levels deep")


def test_a_body_too_deep_and_otherwise_wrong_is_refused_for_its_depth():
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    for wrong in (b"NaN", b"1" * 100, b"[1,}", b'"\\x"'):
        assert outcome(safe_json.loads, b"[" + deep + b"," + wrong + b"]") == (
            "refused", f"is nested more than {MAX_DEPTH} levels deep")
