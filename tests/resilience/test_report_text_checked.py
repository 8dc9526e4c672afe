"""Skipping the storable-text checks for a body without NUL or surrogate escapes changes
nothing: the same reports, the same refusals."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.core import safe_json
from resilience.core.report_schema import ReportError, validate_body

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
any_text = st.text(max_size=30)  # NUL and lone surrogates included
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=10,
)
reports = st.fixed_dictionaries(
    {"code": st.text(min_size=1, max_size=20).filter(str.strip)},
    optional={"message": any_text, "operation": any_text, "context": st.dictionaries(
        any_text, json_values, max_size=3), "payload": json_values,
        "tags": st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=2),
        "cause": st.fixed_dictionaries({"message": any_text})},
)


def _outcome(raw: bytes, *, trust: bool):
    document = safe_json.loads(raw, text="keep")
    text_checked = trust and not safe_json.text_escapes(raw)
    try:
        return validate_body(document, max_batch=100, now=NOW, text_checked=text_checked)
    except ReportError as exc:
        return ("refused", exc.field, exc.problem)


@settings(max_examples=300, deadline=None)
@given(body=st.lists(reports, min_size=1, max_size=3), ascii_only=st.booleans())
def test_the_fast_path_answers_exactly_as_the_full_check(body, ascii_only):
    try:
        raw = json.dumps(body, ensure_ascii=ascii_only).encode()
    except UnicodeEncodeError:  # a lone surrogate cannot be sent raw, only escaped
        raw = json.dumps(body, ensure_ascii=True).encode()
    assert _outcome(raw, trust=True) == _outcome(raw, trust=False)


@pytest.mark.parametrize("raw, escapes", [
    (rb'{"code": "E", "message": "a\u0000b"}', True),
    (rb'{"code": "E", "message": "\ud800"}', True),
    (rb'{"code": "E", "message": "\uD83D\uDE00"}', True),  # a pair: checked, and fine
    (rb'{"code": "E", "message": "\\u0000 as text"}', True),  # a hint, never a verdict
    (rb'{"code": "E", "message": "\u00e9t\u00e9 \n"}', False),
])
def test_which_escapes_send_a_body_to_the_full_check(raw, escapes):
    assert safe_json.text_escapes(raw) is escapes
