"""Used to grant the roles the campaign and recovery permissions.

Roles are declared in accounts/roles.py and granted after every migrate (post_migrate);
this migration stays in the graph so existing databases keep their history.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0001_initial"),
        ("campaigns", "0001_initial"),
        ("resilience", "0002_roles"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
