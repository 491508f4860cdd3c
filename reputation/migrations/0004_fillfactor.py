# Every full refit rewrites each row of these tables. With free room on each page (fillfactor)
# an update that leaves the indexed columns alone is a HOT update: no new index entry, and the
# old version is pruned in place. PostgreSQL only; existing pages fill to the new factor as
# the refits rewrite them (or at once with VACUUM FULL).

from django.db import migrations

TABLES = ("reputation_postscore", "reputation_votercredibility", "reputation_authorreputation")


def set_fillfactor(factor):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {factor})")

    return apply


class Migration(migrations.Migration):

    dependencies = [
        ('reputation', '0003_refit_state'),
    ]

    operations = [
        migrations.RunPython(set_fillfactor(50), set_fillfactor(100)),
    ]
