"""The in-process guard goes through validate_report like any report: text an exception
or its context carries that PostgreSQL refuses is repaired, so the error is recorded."""

import pytest

from resilience.handling.guard import handle_error
from resilience.models import ErrorLogEntry

pytestmark = pytest.mark.usefixtures("postgres")


def test_an_exception_whose_text_postgresql_refuses_is_still_recorded():
    try:
        raise ValueError("bad byte \x00 in \ud800 input")
    except ValueError as exc:
        result = handle_error(exc, {"operation": "import.rows", "file": "rows\x00.csv",
                                    "ratio": float("nan")})
    assert not result.escalated, result.errors
    entry = ErrorLogEntry.objects.get(pk=result.entry_id)  # read back from PostgreSQL
    assert entry.message == "bad byte \ufffd in \ufffd input"
    assert "\x00" not in entry.stack_trace
    assert entry.context["file"] == "rows\ufffd.csv"
    assert entry.context["ratio"] == "nan"


def test_a_dead_letter_made_from_an_exception_with_a_nul_is_stored(db):
    from resilience.models import ClassificationRule, DeadLetter

    ClassificationRule.objects.create(code="ValueError", category="DATA_CORRUPTION",
                                      severity="HIGH")  # DEAD_LETTER, not an immediate alert
    try:
        raise ValueError("row \x00 \ud800 is corrupt")
    except ValueError as exc:
        result = handle_error(exc, {"operation": "import.rows", "payload": {"row": 7}})
    assert result.strategy == "DEAD_LETTER" and not result.escalated, result.errors
    letter = DeadLetter.objects.get(pk=result.dead_letter_id)
    assert letter.reason == "ValueError: row \ufffd \ufffd is corrupt"


def test_an_escalation_quoting_a_nul_is_recorded(db, monkeypatch):
    from resilience.handling import guard as handling

    def failing_dead_letter(*args, **kwargs):
        raise RuntimeError("could not park \x00 this")

    monkeypatch.setattr(handling, "_run_fallback", failing_dead_letter)
    try:
        raise KeyError("op\x00")
    except KeyError as exc:
        result = handle_error(exc, {"operation": "load\x00.things"})
    assert result.escalated
    escalation = ErrorLogEntry.objects.get(code="FAULTLINE_HANDLER_FAILURE")
    assert "\x00" not in escalation.message and escalation.severity == "CRITICAL"
