"""JSON columns as COPY text (resilience/core/copy_text.py): orjson's text, or the standard
library's where orjson refuses the value, is the same JSON as json.dumps writes; only
spacing and the spelling of floats differ, and PostgreSQL's jsonb reads both alike."""

import io
import json
import random
import struct

import pytest
from django.db import connection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from resilience.core import copy_text
from tests.resilience.typed_json import typed

# Every JSON value a column can be given but NaN and the infinities (see
# copy_text._json_text_of): integers past 64 bits, keys that are not text and lone
# surrogates are orjson's refusals, which the standard library's encoder takes.
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from(
    ["\ud800", "\x00", "\\", '"', "\t", "\n", "\x7f", "\u2028"]), max_size=8)
KEYS = TEXT | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()
NUMBERS = (st.integers() | st.integers(-(2**64), 2**64)
           | st.floats(allow_nan=False, allow_infinity=False))
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


def unescaped(line: str) -> str:
    """A JSON column's COPY text back to its JSON: JSON text holds no raw tab, newline or
    carriage return, so only backslashes were doubled."""
    return line.replace("\\\\", "\\")


@settings(max_examples=1000, deadline=None)
@given(value=JSON.filter(lambda value: value is not None))  # None is NULL, not JSON
@example(value=[1e16, 1e-7, 1e22, -0.0, 5e-324, 1.7976931348623157e308, 2**64, -(2**63) - 1])
@example(value={1: "a", None: "b", 2.5: "c", False: "d"})
@example(value={"a": "\ud800"})
def test_a_json_column_reads_back_as_what_json_dumps_writes(value):
    expected = json.loads(json.dumps(value, ensure_ascii=False))
    assert typed(json.loads(unescaped(copy_text.json_value(value)))) == typed(expected)


def test_orjson_writes_floats_and_spacing_its_own_way_and_refusals_as_before():
    assert copy_text.json_value({"a": [1e16, 1.5]}) == '{"a":[1e16,1.5]}'
    assert copy_text.json_value({1: 2**64}) == '{"1": 18446744073709551616}'
    assert copy_text.json_value(None) == copy_text.NULL


def test_a_value_json_cannot_hold_is_refused_as_json_dumps_refuses_it():
    with pytest.raises(TypeError, match="not JSON serializable"):
        copy_text.json_value({"when": object()})


# --- what PostgreSQL makes of both encoders' text --------------------------------------------

def _stored_alike(values) -> list:
    """The values that PostgreSQL's jsonb reads differently from orjson's text and from
    the standard library's (both COPYed into one table; compared as jsonb and as text)."""
    lines = [
        f"{index}\t{copy_text.json_value(value)}\t"
        f"{copy_text.escape(json.dumps(value, ensure_ascii=False))}"
        for index, value in enumerate(values)
    ]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE json_columns (i int, fast jsonb, python jsonb)"
                       " ON COMMIT DROP")
        cursor.cursor.copy_expert("COPY json_columns FROM STDIN",
                                  io.BytesIO(copy_text.copy_text(lines)))
        cursor.execute("SELECT count(*) FROM json_columns")
        assert cursor.fetchone()[0] == len(values)
        cursor.execute("SELECT i FROM json_columns WHERE fast <> python "
                       "OR fast::text <> python::text ORDER BY i")
        differ = [values[row[0]] for row in cursor.fetchall()]
        cursor.execute("DROP TABLE json_columns")
    return differ


def _floats(count: int) -> list[float]:
    """Doubles of every magnitude, from random bits (seeded: the same every run)."""
    rng = random.Random(16)
    floats = []
    while len(floats) < count:
        value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if value == value and abs(value) != float("inf"):
            floats.append(value)
    return floats


# What jsonb stores: no NUL, no lone surrogate (the old encoder's text could not be sent).
STORABLE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                               blacklist_characters="\x00"), max_size=8)
STORABLE = st.recursive(
    st.none() | st.booleans() | NUMBERS | STORABLE_TEXT,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(STORABLE_TEXT | st.integers(), inner, max_size=4),
    max_leaves=20,
)


@pytest.mark.django_db
def test_postgresql_stores_both_encoders_floats_alike(postgres):
    floats = [*_floats(5_000), 1e16, 1e-7, 1e22, -0.0, 0.0, 5e-324, 1.7976931348623157e308,
              2.2250738585072014e-308, 0.1, 1e15, 123456789.0]
    assert _stored_alike(floats + [{"f": f} for f in floats[:500]]) == []


@pytest.mark.django_db
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(STORABLE, min_size=1, max_size=20))
def test_postgresql_stores_both_encoders_values_alike(postgres, values):
    assert _stored_alike(values) == []
