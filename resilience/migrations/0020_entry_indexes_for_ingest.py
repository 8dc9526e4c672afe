"""Fewer indexes for an insert to maintain on the entries table (issue 16).

The two foreign keys lose their own indexes (composite ones lead with them); the
operation, campaign and group indexes become partial, so a new, ungrouped entry without
a campaign is in none of them. On PostgreSQL the new indexes are built CONCURRENTLY
before the old ones are dropped, so ingest is never blocked and queries always have one.
"""

import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class AddIndexWithoutBlocking(AddIndexConcurrently):
    """CONCURRENTLY on PostgreSQL; a plain CREATE INDEX elsewhere (SQLite for `make run`)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor,
                                                     from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor,
                                                      from_state, to_state)


class RemoveIndexWithoutBlocking(RemoveIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_forwards(self, app_label, schema_editor,
                                                        from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_backwards(self, app_label, schema_editor,
                                                         from_state, to_state)


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("resilience", "0019_group_unhandled"),
    ]

    operations = [
        AddIndexWithoutBlocking(
            model_name="errorlogentry",
            index=models.Index(condition=~models.Q(operation=""),
                               fields=["operation", "timestamp"],
                               name="entry_operation_set_time"),
        ),
        AddIndexWithoutBlocking(
            model_name="errorlogentry",
            index=models.Index(condition=~models.Q(campaign_id=""),
                               fields=["campaign_id", "timestamp"],
                               name="entry_campaign_set_time"),
        ),
        AddIndexWithoutBlocking(
            model_name="errorlogentry",
            index=models.Index(condition=models.Q(group__isnull=False), fields=["group", "-id"],
                               name="entry_in_group_recent"),
        ),
        RemoveIndexWithoutBlocking(model_name="errorlogentry", name="entry_operation_time"),
        RemoveIndexWithoutBlocking(model_name="errorlogentry", name="entry_campaign_time"),
        RemoveIndexWithoutBlocking(model_name="errorlogentry", name="entry_group_recent"),
        # Dropping an index is quick; these two were never needed beside the ones above.
        migrations.AlterField(
            model_name="errorlogentry",
            name="group",
            field=models.ForeignKey(blank=True, db_index=False, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL,
                                    related_name="entries", to="resilience.errorgroup"),
        ),
        migrations.AlterField(
            model_name="errorlogentry",
            name="service",
            field=models.ForeignKey(db_index=False,
                                    on_delete=django.db.models.deletion.CASCADE,
                                    related_name="entries", to="resilience.service"),
        ),
    ]
