"""The operator roles: Viewer reads everything in resilience; Triager also triages groups.

Neither adds or deletes groups or entries, nor manages keys: superusers do that.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

RESILIENCE_MODELS = (
    "service",
    "servicekey",
    "classificationrule",
    "errorgroup",
    "grouphistory",
    "errorlogentry",
    "errormetric",
)
VIEWER = [f"view_{model}" for model in RESILIENCE_MODELS]
TRIAGER = [*VIEWER, "change_errorgroup", "triage_errorgroup"]
ROLES = {"Viewer": VIEWER, "Triager": TRIAGER}


def create_roles(apps, schema_editor) -> None:
    # Permissions are normally made by post_migrate, after every migration has run; make
    # them now so this migration can grant them on a fresh database.
    app_config = apps.get_app_config("resilience")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLES.items():
        permissions = list(
            Permission.objects.filter(content_type__app_label="resilience", codename__in=codenames)
        )
        missing = set(codenames) - {p.codename for p in permissions}
        if missing:
            raise RuntimeError(f"{role}: permissions not found: {', '.join(sorted(missing))}")
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*permissions)


def delete_roles(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("resilience", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
