"""The operator roles: Viewer reads everything in resilience; Triager also triages groups.

Neither adds or deletes groups or entries, nor manages keys: superusers do that.
"""

from django.db import migrations

from resilience.migrations._roles import grant

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
    grant(apps, ROLES)


def delete_roles(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("resilience", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
