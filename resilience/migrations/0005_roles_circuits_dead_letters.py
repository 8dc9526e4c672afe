"""Viewer sees circuits, dead letters, deferred writes and the audit trail; Triager may also
force circuits and replay, edit or discard dead letters. Purging stays with superusers."""

from django.db import migrations

from resilience.migrations._roles import grant, revoke

MODELS = (
    "circuitstate",
    "circuittransition",
    "deadletter",
    "deadletterattempt",
    "replaytarget",
    "auditevent",
    "deferredwrite",
)
VIEWER = [f"view_{model}" for model in MODELS]
TRIAGER = [*VIEWER, "force_circuitstate", "replay_deadletter"]
ROLES = {"Viewer": VIEWER, "Triager": TRIAGER}


def grant_roles(apps, schema_editor) -> None:
    grant(apps, ROLES)


def revoke_roles(apps, schema_editor) -> None:
    revoke(apps, ROLES)


class Migration(migrations.Migration):
    dependencies = [("resilience", "0004_circuits_dead_letters_audit")]

    operations = [migrations.RunPython(grant_roles, revoke_roles)]
