# The seed's "Fallback failed for <op>" alert gets its own kind.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("alerts", "0004_roles"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alert",
            name="kind",
            field=models.CharField(
                choices=[
                    ("new_group", "New group"),
                    ("regression", "Regression"),
                    ("immediate", "Immediate"),
                    ("escalation", "Escalation"),
                    ("threshold", "Threshold"),
                    ("dead_letter", "Dead letter"),
                    ("fallback_failed", "Fallback failed"),
                    ("circuit_open", "Circuit open"),
                    ("digest_lag", "Digest lag"),
                    ("operational", "Operational"),
                    ("test", "Test"),
                ],
                max_length=16,
            ),
        ),
    ]
