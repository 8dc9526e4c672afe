"""Used to create alerting's periodic tasks (digestion lag check, redelivery sweep).

Periodic tasks are declared in config/periodic_tasks.py and made after every migrate
(post_migrate); this migration stays in the graph so existing databases keep their history.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0002_default_rules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
