"""Used to grant the roles the circuit, dead-letter, deferred-write and audit permissions.

Roles are declared in accounts/roles.py and granted after every migrate (post_migrate);
this migration stays in the graph so existing databases keep their history.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("resilience", "0004_circuits_dead_letters_audit")]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
