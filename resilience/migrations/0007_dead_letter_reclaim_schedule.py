"""Used to create the dead-letter reclaim's periodic task.

Periodic tasks are declared in config/periodic_tasks.py and made after every migrate
(post_migrate); this migration stays in the graph so existing databases keep their history.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("resilience", "0006_circuit_live_state")]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
