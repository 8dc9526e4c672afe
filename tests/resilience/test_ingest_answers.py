"""The answer about each ingested report (ingest/service.accepted_of): the same Accepted
its dataclass makes, field for field, and its JSON as json.dumps wrote it (no database)."""

import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.api.entries import answers_json
from resilience.ingest.entry_rows import new_entry
from resilience.ingest.service import Accepted, accepted_of


def entry(**values):
    made = new_entry({"event_id": "e-1", "category": "TRANSIENT", "severity": "LOW",
                      "retryable": True, "recoverable": True, "strategy": "RETRY",
                      "retry_after_ms": 250, **values})
    made.pk = 41
    return made


def test_an_answer_is_the_dataclass_made_from_the_entry():
    answer = accepted_of(entry(), "CLOSED")
    assert answer == Accepted(id=41, event_id="e-1", category="TRANSIENT", severity="LOW",
                              retryable=True, recoverable=True, strategy="RETRY",
                              retry_after_ms=250, circuit="CLOSED")
    assert answer.as_dict() == {"id": 41, "event_id": "e-1", "category": "TRANSIENT",
                                "severity": "LOW", "retryable": True, "recoverable": True,
                                "strategy": "RETRY", "retry_after_ms": 250,
                                "circuit": "CLOSED"}


def test_a_spooled_entry_is_answered_as_spooled():
    spooled = entry()
    spooled.pk, spooled.spooled = None, True
    answer = accepted_of(spooled, "NOT_READ")
    assert answer == Accepted(id=None, event_id="e-1", category="TRANSIENT", severity="LOW",
                              retryable=True, recoverable=True, strategy="RETRY",
                              retry_after_ms=250, circuit="NOT_READ", spooled=True)
    assert answer.as_dict()["spooled"] is True


def test_every_field_of_the_dataclass_is_set():
    # A field added to Accepted must be added to accepted_of too.
    assert set(vars(accepted_of(entry(), "OPEN"))) == {f.name for f in dataclasses.fields(Accepted)}


ANSWER_VALUES = (st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
                 | st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.none())
ANSWERS = st.dictionaries(st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
                          ANSWER_VALUES, max_size=10)


@settings(max_examples=500, deadline=None)
@given(answers=ANSWERS | st.lists(ANSWERS, max_size=5))
def test_answers_are_written_byte_for_byte_as_json_dumps_wrote_them(answers):
    assert answers_json(answers) == json.dumps(answers, ensure_ascii=False,
                                               separators=(",", ":")).encode()
