"""Viewer and Triager see campaigns, their timers, the outbox and the recovery runs;
Triager may also run a recovery or clean-up procedure now ("run_recovery")."""

from django.db import migrations

from resilience.migrations._roles import grant, revoke

CAMPAIGNS_VIEWER = ["view_campaign", "view_campaigntimer", "view_outboxevent"]
RECOVERY_VIEWER = ["view_recoveryrun"]
CAMPAIGNS = {"Viewer": CAMPAIGNS_VIEWER, "Triager": CAMPAIGNS_VIEWER}
RECOVERY = {"Viewer": RECOVERY_VIEWER, "Triager": [*RECOVERY_VIEWER, "run_recovery"]}


def grant_roles(apps, schema_editor):
    grant(apps, CAMPAIGNS, app_label="campaigns")
    grant(apps, RECOVERY, app_label="recovery")


def revoke_roles(apps, schema_editor):
    revoke(apps, CAMPAIGNS, app_label="campaigns")
    revoke(apps, RECOVERY, app_label="recovery")


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0001_initial"),
        ("campaigns", "0001_initial"),
        ("resilience", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant_roles, revoke_roles)]
