"""AuthorVoterState.data stored uncompressed on PostgreSQL: packed float64 rows hardly compress, and
compressing them (pglz) took most of the time a refit spent writing them (61 MB at 10M votes)."""

from django.db import migrations


def uncompressed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE reputation_authorvoterstate ALTER COLUMN data SET STORAGE EXTERNAL")


def compressed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE reputation_authorvoterstate ALTER COLUMN data SET STORAGE EXTENDED")


class Migration(migrations.Migration):
    dependencies = [("reputation", "0011_author_voter_state")]

    operations = [migrations.RunPython(uncompressed, compressed)]
