"""campaigns registers its procedures with recovery, in the seed's run order."""

import pytest

from campaigns import procedures as campaign_procedures
from recovery.registry import CLEANUP, PROCEDURES, RECOVERY, in_group, procedure

SEED_ORDER = [
    "health.database", "health.redis", "health.broker",
    "timers.reclaim_stuck", "timers.retry_failed", "timers.run_overdue",
    "campaigns.complete_overdue", "outbox.republish",
    "dead_letters.replay_transient", "deferred_writes.report",
]
CLEANUP_ORDER = [
    "cleanup.entries", "cleanup.attachments", "cleanup.metrics", "cleanup.groups",
    "cleanup.timers", "cleanup.outbox", "cleanup.dead_letters", "cleanup.recovery_runs",
    "cleanup.check_ins",
]


def test_the_campaign_procedures_come_from_campaigns_in_the_seed_order():
    assert [p.name for p in in_group(RECOVERY)] == SEED_ORDER
    assert [p.name for p in in_group(CLEANUP)] == CLEANUP_ORDER
    assert PROCEDURES["outbox.republish"].func is campaign_procedures.republish_outbox
    assert PROCEDURES["cleanup.timers"].func is campaign_procedures.cleanup_timers


def test_after_an_unknown_procedure_is_refused(monkeypatch):
    monkeypatch.setattr("recovery.registry.PROCEDURES", dict(PROCEDURES))
    with pytest.raises(ValueError, match="not registered"):
        procedure("x.late", group=RECOVERY, description="", after="no.such")(lambda now: None)


def test_after_inserts_right_behind_its_anchor(monkeypatch):
    from recovery import registry

    monkeypatch.setattr(registry, "PROCEDURES", dict(PROCEDURES))
    registry.procedure("x.next", group=RECOVERY, description="", after="health.database")(
        lambda now: None)
    assert [p.name for p in registry.in_group(RECOVERY)][:3] == [
        "health.database", "x.next", "health.redis"]
