"""alerts/routing.py: which rules (and so channels) an alert reaches (pure)."""

import pytest

from alerts.routing import (
    LEVELS,
    Candidate,
    Kind,
    RuleSpec,
    channels_for,
    group_kind,
    route,
    rule_matches,
    threshold_rules_for,
)

EMAIL, SLACK, WEBHOOK = 1, 2, 3
NAMES = {EMAIL: "email", SLACK: "slack", WEBHOOK: "webhook"}
# The default rule set, as alerts/migrations/0002_default_rules.py creates it.
DEFAULTS = [
    RuleSpec(id=1, levels=frozenset({"CRITICAL"}), channel_ids=(EMAIL, SLACK, WEBHOOK)),
    RuleSpec(id=2, levels=frozenset({"HIGH"}), channel_ids=(SLACK, WEBHOOK)),
    RuleSpec(id=3, levels=frozenset({"MEDIUM"}), channel_ids=(SLACK,)),
    RuleSpec(id=4, levels=frozenset({"LOW"}), channel_ids=()),
]
EXPECTED = {
    "CRITICAL": {"email", "slack", "webhook"},
    "HIGH": {"slack", "webhook"},
    "MEDIUM": {"slack"},
    "LOW": set(),
}


def candidate(level="HIGH", **kw) -> Candidate:
    values = dict(kind=Kind.NEW_GROUP, level=level, subject_key="group:1", group_id=1,
                  service_id=10, category="EXTERNAL_DEPENDENCY", operation="payment.charge",
                  environment="production")
    values.update(kw)
    return Candidate(**values)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("channel", ["email", "slack", "webhook"])
def test_the_default_routing_table(level, channel):
    rules = route(DEFAULTS, candidate(level))
    channels = {NAMES[cid] for cid, _ in channels_for(rules)}
    assert (channel in channels) == (channel in EXPECTED[level])


@pytest.mark.parametrize("level", LEVELS)
def test_each_level_matches_exactly_one_default_rule(level):
    assert len(route(DEFAULTS, candidate(level))) == 1


def test_a_minimum_level_includes_the_levels_above():
    rule = RuleSpec(id=9, min_level="HIGH")
    assert [rule_matches(rule, candidate(lv)) for lv in LEVELS] == [False, False, True, True]


def test_no_level_set_matches_every_level():
    assert all(rule_matches(RuleSpec(id=9), candidate(lv)) for lv in LEVELS)


@pytest.mark.parametrize("field,value,other", [
    ("category", "SECURITY", "TRANSIENT"),
    ("service_id", 10, 11),
    ("environment", "production", "staging"),
    ("operation", "payment.charge", "payment.refund"),
])
def test_a_matcher_narrows_a_rule(field, value, other):
    rule = RuleSpec(id=9, **{field: value})
    assert rule_matches(rule, candidate(**{field: value}))
    assert not rule_matches(rule, candidate(**{field: other}))


def test_an_operation_may_be_a_pattern():
    rule = RuleSpec(id=9, operation="payment.*")
    assert rule_matches(rule, candidate(operation="payment.refund"))
    assert not rule_matches(rule, candidate(operation="timer.execute"))


def test_a_rule_for_a_service_does_not_match_alerts_about_no_service():
    rule = RuleSpec(id=9, service_id=10)
    assert not rule_matches(rule, candidate(kind=Kind.CIRCUIT_OPEN, service_id=None))


def test_a_disabled_rule_matches_nothing():
    assert not rule_matches(RuleSpec(id=9, enabled=False), candidate())


def test_a_channel_is_used_once_however_many_rules_route_there():
    rules = [RuleSpec(id=1, channel_ids=(SLACK, WEBHOOK)), RuleSpec(id=2, channel_ids=(SLACK,
                                                                                      EMAIL))]
    assert channels_for(rules) == [(SLACK, 1), (WEBHOOK, 1), (EMAIL, 2)]


def test_threshold_rules_fire_only_on_their_own_threshold_alerts():
    threshold = RuleSpec(id=5, threshold_count=100, threshold_minutes=5, channel_ids=(SLACK,))
    event = RuleSpec(id=6, channel_ids=(EMAIL,))
    assert route([threshold, event], candidate()) == [event]
    assert route([threshold, event], candidate(kind=Kind.THRESHOLD, rule_id=5)) == [threshold]
    assert route([threshold], candidate(kind=Kind.THRESHOLD, rule_id=7)) == []
    assert threshold_rules_for([threshold, event], candidate()) == [threshold]
    assert threshold_rules_for([RuleSpec(id=5, threshold_count=1, threshold_minutes=1,
                                         category="SECURITY")], candidate()) == []


def test_several_reasons_for_one_group_make_one_alert_the_seeds_first():
    assert group_kind({Kind.IMMEDIATE, Kind.NEW_GROUP}) == Kind.IMMEDIATE
    assert group_kind({Kind.IMMEDIATE, Kind.REGRESSION, Kind.NEW_GROUP}) == Kind.IMMEDIATE
    assert group_kind({Kind.IMMEDIATE, Kind.ESCALATION}) == Kind.ESCALATION
    assert group_kind({Kind.REGRESSION, Kind.NEW_GROUP}) == Kind.REGRESSION
