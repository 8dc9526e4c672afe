"""JSON columns as COPY text (resilience/core/copy_text.py): the encoder made once writes
what json.dumps writes (pure: no database)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.core import copy_text

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(value=JSON)
def test_a_json_column_is_what_json_dumps_writes_escaped_for_copy(value):
    expected = copy_text.NULL if value is None else \
        copy_text.escape(json.dumps(value, ensure_ascii=False))
    assert copy_text.json_value(value) == expected


def test_a_value_json_cannot_hold_is_refused_as_json_dumps_refuses_it():
    with pytest.raises(TypeError, match="not JSON serializable"):
        copy_text.json_value({"when": object()})
