"""Entries written by COPY read back exactly as the INSERT path stores them."""

import uuid
from datetime import UTC, datetime
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilience.core import copy_text
from resilience.ingest import entry_rows, entry_writer
from resilience.models import ErrorLogEntry
from tests import factories

# What report validation lets through: any text but NUL and lone surrogates.
storable_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | storable_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(storable_text, inner, max_size=3),
    max_leaves=8,
)

MOMENT = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
COMPARED = [f.attname for f in ErrorLogEntry._meta.concrete_fields if not f.primary_key]


def test_copy_text_escapes_what_the_format_reserves():
    assert copy_text.escape("a\\b\tc\nd\re") == "a\\\\b\\tc\\nd\\re"
    line = copy_text.copy_line(
        [None, "x\ty", 3, True, {"k": "v\n"}, None],
        [copy_text.text_value, copy_text.text_value, copy_text.int_value,
         copy_text.bool_value, copy_text.json_value, copy_text.json_value],
    )
    assert line == '\\N\tx\\ty\t3\tt\t{"k":"v\\\\n"}\t\\N'


def _written(service, *, copy: bool, **fields) -> dict:
    entry = factories.ErrorLogEntryFactory.build(service=service, event_id=uuid.uuid4().hex,
                                                 timestamp=MOMENT, received_at=MOMENT, **fields)
    if copy:  # as the writer does outside a transaction (a test runs inside one)
        entry_rows.copy_rows([entry], entry_rows.take_ids(1))
        stored = entry
    else:
        with mock.patch.object(entry_rows, "copy_supported", lambda: False):
            [stored] = entry_writer.write_now([entry])
    row = ErrorLogEntry.objects.filter(pk=stored.pk).values(*COMPARED).get()
    del row["event_id"]
    return row


@pytest.mark.django_db
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=storable_text, document=json_values)
def test_copy_and_insert_store_the_same_row(postgres, service, text, document):
    fields = dict(message=text, stack_trace=f"line 1\n\t{text}\\n", operation=text[:200],
                  context={"text": text, "nested": document}, payload=document,
                  extra={"tags": {"k": text}}, http_status=503, retry_after_ms=None)
    assert _written(service, copy=True, **fields) == _written(service, copy=False, **fields)


@pytest.mark.django_db
def test_a_python_none_json_column_is_sql_null_as_django_stores_it(postgres, service):
    row = _written(service, copy=True, payload=None, cause=None)
    assert ErrorLogEntry.objects.filter(payload__isnull=True).count() == 1
    assert row["payload"] is None


@pytest.mark.django_db
def test_the_id_block_hands_out_fresh_ids_and_renews_when_old(postgres):
    block = entry_rows.IdBlock(size=4, seconds=60)
    first = block.take(3)
    assert len(set(first)) == 3
    assert block.take(2)[0] > first[-1]  # one left in the block: a new block is taken
    block.seconds = 0
    old = list(block.ids)
    assert block.take(1)[0] not in old  # too old to keep ids in order across processes
