"""Circuits belong to a service (step 1 of 3): the owner and the shared flag, nullable
until the rows are assigned in 0012."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("resilience", "0010_entry_quarantine")]

    operations = [
        migrations.AddField(
            model_name="circuitstate",
            name="service",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE,
                related_name="circuits", to="resilience.service",
                help_text="The service whose calls this circuit guards",
            ),
        ),
        migrations.AddField(
            model_name="circuitstate",
            name="shared",
            field=models.BooleanField(
                default=False,
                help_text="Shared with every service: their failures count against it and "
                "they all read it (at most one shared circuit per operation)",
            ),
        ),
    ]
