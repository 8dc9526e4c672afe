"""Viewer and Triager see alerts, deliveries, attempts, rules, channels and silences;
Triager may also resend a delivery and create or end silences. Channels and rules stay
with superusers."""

from django.db import migrations

from resilience.migrations._roles import grant, revoke

MODELS = ("alert", "alertdelivery", "alertattempt", "alertrule", "channel", "silence")
VIEWER = [f"view_{model}" for model in MODELS]
TRIAGER = [*VIEWER, "resend_alertdelivery", "create_silence"]
ROLES = {"Viewer": VIEWER, "Triager": TRIAGER}


def grant_roles(apps, schema_editor):
    grant(apps, ROLES, app_label="alerts")


def revoke_roles(apps, schema_editor):
    revoke(apps, ROLES, app_label="alerts")


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_schedules"),
        ("resilience", "0005_roles_circuits_dead_letters"),
    ]

    operations = [migrations.RunPython(grant_roles, revoke_roles)]
