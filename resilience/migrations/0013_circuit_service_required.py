"""Circuits belong to a service (step 3 of 3): one per (service, operation), at most one
shared circuit per operation, and an index for the idle-expiry scan."""

import django.db.models.deletion
from django.db import migrations, models

import resilience.models.circuits


class Migration(migrations.Migration):
    dependencies = [("resilience", "0012_circuit_service_data")]

    operations = [
        migrations.AlterField(
            model_name="circuitstate",
            name="service",
            field=models.ForeignKey(
                default=resilience.models.circuits.guard_service_id,
                on_delete=django.db.models.deletion.CASCADE, related_name="circuits",
                to="resilience.service",
                help_text="The service whose calls this circuit guards",
            ),
        ),
        migrations.AlterField(
            model_name="circuitstate",
            name="operation",
            field=models.CharField(max_length=200),
        ),
        migrations.AlterModelOptions(
            name="circuitstate",
            options={
                "ordering": ["service_id", "operation"],
                "permissions": [("force_circuitstate",
                                 "Can force circuits open or closed and reset them")],
            },
        ),
        migrations.AddConstraint(
            model_name="circuitstate",
            constraint=models.UniqueConstraint(fields=("service", "operation"),
                                               name="circuit_unique_per_service"),
        ),
        migrations.AddConstraint(
            model_name="circuitstate",
            constraint=models.UniqueConstraint(
                condition=models.Q(("shared", True)), fields=("operation",),
                name="circuit_one_shared_per_operation",
                violation_error_message="Another circuit for this operation is already "
                "shared."),
        ),
        migrations.AddIndex(
            model_name="circuitstate",
            index=models.Index(fields=["state", "changed_at"], name="circuit_state_changed_idx"),
        ),
    ]
