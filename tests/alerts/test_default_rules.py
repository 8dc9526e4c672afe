"""The default rule set made by the 0002 data migration, as stored and routed."""

import pytest

from alerts.models import NOT_CONFIGURED, AlertRule, Channel
from alerts.routing import LEVELS, Candidate, Kind, channels_for, route
from alerts.selectors import rule_specs

pytestmark = pytest.mark.django_db

EXPECTED = {
    "CRITICAL": {"EMAIL", "SLACK", "WEBHOOK"},
    "HIGH": {"SLACK", "WEBHOOK"},
    "MEDIUM": {"SLACK"},
    "LOW": set(),
}


def test_the_default_channels_exist_disabled_as_not_configured():
    channels = Channel.objects.order_by("kind")
    assert [(c.kind, c.enabled, c.disabled_reason) for c in channels] == [
        ("EMAIL", False, NOT_CONFIGURED), ("SLACK", False, NOT_CONFIGURED),
        ("WEBHOOK", False, NOT_CONFIGURED)]


def test_four_default_rules_one_per_level():
    rules = {r.levels[0]: r for r in AlertRule.objects.all()}
    assert set(rules) == set(LEVELS)
    assert all(r.enabled and r.throttle_minutes == 10 for r in rules.values())


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("kind", ["EMAIL", "SLACK", "WEBHOOK"])
def test_every_level_and_channel_against_the_stored_defaults(level, kind):
    kinds = dict(Channel.objects.values_list("pk", "kind"))
    matched = route(rule_specs(), Candidate(kind=Kind.NEW_GROUP, level=level,
                                            subject_key="group:1"))
    routed = {kinds[cid] for cid, _ in channels_for(matched)}
    assert (kind in routed) == (kind in EXPECTED[level])
