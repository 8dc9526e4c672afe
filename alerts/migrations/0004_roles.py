"""Used to grant the roles alerting's permissions.

Roles are declared in accounts/roles.py and granted after every migrate (post_migrate);
this migration stays in the graph so existing databases keep their history.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_schedules"),
        ("resilience", "0005_roles_circuits_dead_letters"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
