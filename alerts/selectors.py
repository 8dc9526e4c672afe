"""Reads for the evaluation: the rules and the silences in effect, as pure specs."""

from __future__ import annotations

from datetime import datetime

from alerts.models import AlertRule, Silence
from alerts.routing import RuleSpec
from alerts.throttling import SilenceSpec


def rule_specs() -> list[RuleSpec]:
    """Every enabled rule with its channel ids (two queries)."""
    rules = AlertRule.objects.filter(enabled=True).prefetch_related("channels").order_by("id")
    return [
        RuleSpec(
            id=r.pk,
            name=r.name,
            enabled=r.enabled,
            min_level=r.min_level,
            levels=frozenset(r.levels or ()),
            category=r.category,
            service_id=r.service_id,
            operation=r.operation,
            environment=r.environment,
            channel_ids=tuple(sorted(c.pk for c in r.channels.all())),
            throttle_minutes=r.throttle_minutes,
            threshold_count=r.threshold_count,
            threshold_minutes=r.threshold_minutes,
        )
        for r in rules
    ]


def active_silences(*, now: datetime) -> list[SilenceSpec]:
    rows = Silence.objects.filter(starts_at__lte=now, ends_at__gt=now).order_by("id")
    return [
        SilenceSpec(id=s.pk, starts_at=s.starts_at, ends_at=s.ends_at, group_id=s.group_id,
                    service_id=s.service_id, rule_id=s.rule_id)
        for s in rows
    ]
