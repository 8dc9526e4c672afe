"""DRF's authtoken table kept operators' tokens in clear. Each one becomes an OperatorToken
holding only its SHA-256, so the same `Authorization: Token <key>` keeps working, and the
clear rows are deleted. The (now empty) authtoken_token table is left for the operator to
drop: rest_framework.authtoken is no longer installed, so nothing reads or writes it.
"""

import hashlib

from django.db import migrations

TABLE = "authtoken_token"


def hash_drf_tokens(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if TABLE not in connection.introspection.table_names():
        return  # a database that never had DRF tokens
    OperatorToken = apps.get_model("accounts", "OperatorToken")
    quoted = schema_editor.quote_name(TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {quoted}")
        rows = cursor.fetchall()
        OperatorToken.objects.bulk_create(
            [
                OperatorToken(
                    user_id=user_id,
                    label="DRF token (migrated)",
                    key_prefix=key[:10],
                    key_hash=hashlib.sha256(key.encode()).hexdigest(),
                    created_at=created,
                )
                for key, user_id, created in rows
            ],
            ignore_conflicts=True,  # already migrated (the migration was re-run by hand)
        )
        cursor.execute(f"DELETE FROM {quoted}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    # Irreversible in substance: the clear keys are gone. Going back leaves the hashes.
    operations = [migrations.RunPython(hash_drf_tokens, migrations.RunPython.noop)]
