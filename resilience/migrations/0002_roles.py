"""Used to create the operator roles (Viewer, Triager).

Roles are declared in accounts/roles.py and granted after every migrate (post_migrate);
this migration stays in the graph so existing databases keep their history.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("resilience", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
