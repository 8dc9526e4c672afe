"""Viewer and Triager see campaigns, their timers, the outbox and the recovery runs;
Triager may also run a recovery or clean-up procedure now ("run_recovery")."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER = [
    ("campaigns", "view_campaign"),
    ("campaigns", "view_campaigntimer"),
    ("campaigns", "view_outboxevent"),
    ("recovery", "view_recoveryrun"),
]
TRIAGER = [*VIEWER, ("recovery", "run_recovery")]
ROLES = {"Viewer": VIEWER, "Triager": TRIAGER}


def _permissions(apps, pairs):
    Permission = apps.get_model("auth", "Permission")
    found = []
    for app_label, codename in pairs:
        permission = Permission.objects.filter(content_type__app_label=app_label,
                                               codename=codename).first()
        if permission is None:
            raise RuntimeError(f"permission not found: {app_label}.{codename}")
        found.append(permission)
    return found


def grant_roles(apps, schema_editor):
    # As resilience/migrations/_roles.py: make the permissions now, not at post_migrate.
    for label in ("campaigns", "recovery"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, pairs in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps, pairs))


def revoke_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role, pairs in ROLES.items():
        group = Group.objects.filter(name=role).first()
        if group:
            group.permissions.remove(*_permissions(apps, pairs))


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0001_initial"),
        ("campaigns", "0001_initial"),
        ("resilience", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant_roles, revoke_roles)]
