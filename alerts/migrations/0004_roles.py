"""Viewer and Triager see alerts, deliveries, attempts, rules, channels and silences;
Triager may also resend a delivery and create or end silences. Channels and rules stay
with superusers."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = ("alert", "alertdelivery", "alertattempt", "alertrule", "channel", "silence")
VIEWER = [f"view_{model}" for model in MODELS]
TRIAGER = [*VIEWER, "resend_alertdelivery", "create_silence"]
ROLES = {"Viewer": VIEWER, "Triager": TRIAGER}


def _permissions(apps, codenames):
    Permission = apps.get_model("auth", "Permission")
    found = list(Permission.objects.filter(content_type__app_label="alerts",
                                           codename__in=codenames))
    missing = set(codenames) - {p.codename for p in found}
    if missing:
        raise RuntimeError(f"permissions not found: {', '.join(sorted(missing))}")
    return found


def grant_roles(apps, schema_editor):
    # As resilience/migrations/_roles.py: make the permissions now, not at post_migrate.
    app_config = apps.get_app_config("alerts")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps, codenames))


def revoke_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role, codenames in ROLES.items():
        group = Group.objects.filter(name=role).first()
        if group:
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_schedules"),
        ("resilience", "0005_roles_circuits_dead_letters"),
    ]

    operations = [migrations.RunPython(grant_roles, revoke_roles)]
