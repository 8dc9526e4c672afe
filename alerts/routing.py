"""Which rules an alert matches, and so which channels hear of it (pure, standard library).

A rule matches when it is enabled and every matcher it sets agrees with the alert (blank =
any): the level (``min_level``: that level or above; or ``levels``: exactly those), the
category, the service, the operation (a shell-style pattern: ``payment.*``) and the
environment. A rule with an "N events in M minutes" threshold only fires on THRESHOLD
alerts made for it (the evaluation checks the count); event rules never fire on those.

The channels of all matching rules are merged, each channel once: an alert is sent once
per channel however many rules route it there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from fnmatch import fnmatchcase

LEVELS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}


class Kind(StrEnum):
    NEW_GROUP = "new_group"
    REGRESSION = "regression"
    IMMEDIATE = "immediate"  # an IMMEDIATE_ALERT decision
    ESCALATION = "escalation"  # an error inside Faultline's own handling
    THRESHOLD = "threshold"  # N events in M minutes
    DEAD_LETTER = "dead_letter"
    FALLBACK_FAILED = "fallback_failed"  # a FALLBACK decision whose fallback did not succeed
    CIRCUIT_OPEN = "circuit_open"
    DIGEST_LAG = "digest_lag"
    OPERATIONAL = "operational"  # raised by another part of Faultline (recovery)
    MONITOR = "monitor"  # a cron monitor's run failed, was missed or timed out
    TEST = "test"


# Several reasons for one group in one digest batch make one alert, named by the first:
# the seed's alerts (escalation, immediate) before Faultline's own (regression, new group),
# so an IMMEDIATE_ALERT decision always says what the seed says.
GROUP_KIND_PRIORITY = (Kind.ESCALATION, Kind.IMMEDIATE, Kind.REGRESSION, Kind.NEW_GROUP)


@dataclass(frozen=True)
class Candidate:
    """Something that may become an alert, with what rules match on."""

    kind: str
    level: str
    subject_key: str  # what the throttle counts per: "group:12", "circuit:timer.execute"
    group_id: int | None = None
    service_id: int | None = None
    category: str = ""
    operation: str = ""
    environment: str = ""
    rule_id: int | None = None  # THRESHOLD: the rule whose threshold was reached


@dataclass(frozen=True)
class RuleSpec:
    id: int
    name: str = ""
    enabled: bool = True
    min_level: str = ""
    levels: frozenset[str] = frozenset()
    category: str = ""
    service_id: int | None = None
    operation: str = ""
    environment: str = ""
    channel_ids: tuple[int, ...] = ()
    throttle_minutes: int = 10
    threshold_count: int | None = None
    threshold_minutes: int | None = None

    @property
    def has_threshold(self) -> bool:
        return bool(self.threshold_count and self.threshold_minutes)


def level_matches(rule: RuleSpec, level: str) -> bool:
    if rule.levels:
        return level in rule.levels
    if rule.min_level:
        return LEVEL_RANK.get(level, -1) >= LEVEL_RANK[rule.min_level]
    return True


def rule_matches(rule: RuleSpec, candidate: Candidate) -> bool:
    if not rule.enabled:
        return False
    if rule.has_threshold != (candidate.kind == Kind.THRESHOLD):
        return False
    if candidate.kind == Kind.THRESHOLD and candidate.rule_id != rule.id:
        return False
    if not level_matches(rule, candidate.level):
        return False
    if rule.category and rule.category != candidate.category:
        return False
    if rule.service_id is not None and rule.service_id != candidate.service_id:
        return False
    if rule.operation and not fnmatchcase(candidate.operation, rule.operation):
        return False
    return not (rule.environment and rule.environment != candidate.environment)


def route(rules: Iterable[RuleSpec], candidate: Candidate) -> list[RuleSpec]:
    """The rules that match, in id order."""
    return sorted((r for r in rules if rule_matches(r, candidate)), key=lambda r: r.id)


def threshold_rules_for(rules: Iterable[RuleSpec], candidate: Candidate) -> list[RuleSpec]:
    """Threshold rules whose other matchers accept this group (the count is checked next)."""
    return [
        r for r in sorted(rules, key=lambda r: r.id)
        if r.has_threshold and rule_matches(r, _as_threshold(candidate, r.id))
    ]


def _as_threshold(candidate: Candidate, rule_id: int) -> Candidate:
    return replace(candidate, kind=Kind.THRESHOLD, rule_id=rule_id)


def channels_for(rules: Sequence[RuleSpec]) -> list[tuple[int, int]]:
    """(channel id, the first rule that routes to it), each channel once, in rule order."""
    seen: dict[int, int] = {}
    for rule in rules:
        for channel_id in rule.channel_ids:
            seen.setdefault(channel_id, rule.id)
    return list(seen.items())


def group_kind(kinds: Iterable[str]) -> str:
    present = set(kinds)
    for kind in GROUP_KIND_PRIORITY:
        if kind in present:
            return kind
    raise ValueError(f"no group alert kind in {sorted(present)}")
