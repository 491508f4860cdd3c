# The refit state is ~20 MB of packed arrays that do not compress: store it without trying to
# (halves the time to write it). PostgreSQL only.

from django.db import migrations


def set_storage(kind):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE reputation_refitstate ALTER COLUMN arrays SET STORAGE {kind}")

    return apply


class Migration(migrations.Migration):

    dependencies = [
        ('reputation', '0004_fillfactor'),
    ]

    operations = [
        migrations.RunPython(set_storage("EXTERNAL"), set_storage("EXTENDED")),
    ]
