"""The transition table (pure)."""

import pytest

from campaigns import lifecycle
from campaigns.lifecycle import IllegalTransition, transition


@pytest.mark.parametrize(("status", "trigger", "after"), [
    ("DRAFT", "schedule", "SCHEDULED"),
    ("SCHEDULED", "start", "RUNNING"),
    ("RUNNING", "end", "COMPLETED"),
    ("PAUSED", "end", "COMPLETED"),
    ("RUNNING", "pause", "PAUSED"),
    ("PAUSED", "resume", "RUNNING"),
    ("SCHEDULED", "cancel", "CANCELLED"),
])
def test_legal_transitions(status, trigger, after):
    assert transition(status, trigger) == after


@pytest.mark.parametrize(("status", "trigger"), [
    ("DRAFT", "start"), ("SCHEDULED", "end"), ("RUNNING", "start"),
    ("COMPLETED", "end"), ("COMPLETED", "start"), ("CANCELLED", "start"),
    ("CANCELLED", "end"), ("COMPLETED", "cancel"),
])
def test_everything_else_is_illegal(status, trigger):
    with pytest.raises(IllegalTransition, match=f"cannot {trigger} a {status} campaign"):
        transition(status, trigger)


def test_terminal_states_allow_nothing():
    for status in lifecycle.TERMINAL:
        assert not [t for (s, t) in lifecycle.TRANSITIONS if s == status]
    with pytest.raises(IllegalTransition, match="COMPLETED is final"):
        transition("COMPLETED", "end")


def test_every_timer_type_has_a_trigger_and_a_topic():
    assert lifecycle.TRIGGER_TOPICS[lifecycle.TIMER_TRIGGERS["campaign.start"]] == (
        "lifecycle.campaign.started")
    assert lifecycle.TRIGGER_TOPICS[lifecycle.TIMER_TRIGGERS["campaign.end"]] == (
        "lifecycle.campaign.completed")
