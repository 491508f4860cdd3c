# The per-author refresh reads an author's votes by an index-only scan of (author, voter)
# with the vote's other fields included; the single-column voter and author indexes go, as
# unique (voter, post) and this index lead with those columns.
#
# On PostgreSQL the index is built and the old one dropped CONCURRENTLY: a plain CREATE INDEX
# blocks every vote for as long as the build takes (about half a minute at 10M votes).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class _OnPostgresConcurrently:
    """AddIndex / RemoveIndex that run CONCURRENTLY on PostgreSQL (outside a transaction), plainly elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        state = to_state if isinstance(self, migrations.AddIndex) else from_state
        model = state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        concurrently = schema_editor.connection.vendor == "postgresql"
        if isinstance(self, migrations.AddIndex):
            schema_editor.add_index(model, self.index, **({"concurrently": True} if concurrently else {}))
        else:
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.remove_index(model, index, **({"concurrently": True} if concurrently else {}))


class AddIndexConcurrently(_OnPostgresConcurrently, migrations.AddIndex):
    pass


class RemoveIndexConcurrently(_OnPostgresConcurrently, migrations.RemoveIndex):
    pass


def _fk_indexes(schema_editor, model):
    return [
        (schema_editor._create_index_name(model._meta.db_table, [column]), column)
        for column in ("author_id", "voter_id")
    ]


def _drop_fk_indexes(apps, schema_editor):
    model = apps.get_model("votes", "Vote")
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, _ in _fk_indexes(schema_editor, model):
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {schema_editor.quote_name(name)}")


def _create_fk_indexes(apps, schema_editor):
    model = apps.get_model("votes", "Vote")
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, column in _fk_indexes(schema_editor, model):
        schema_editor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {schema_editor.quote_name(name)} "
            f"ON {schema_editor.quote_name(model._meta.db_table)} ({schema_editor.quote_name(column)})"
        )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('votes', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The new index first, so the table is never without an index on author.
        AddIndexConcurrently(
            model_name='vote',
            index=models.Index(fields=['author', 'voter'], include=('post', 'value', 'created_at'), name='vote_author_voter_cover'),
        ),
        RemoveIndexConcurrently(
            model_name='vote',
            name='votes_vote_author__a302d3_idx',
        ),
        # The foreign keys lose their single-column indexes. Django's AlterField would also drop and
        # re-add each foreign-key constraint, re-validating every row under a lock that blocks votes;
        # only the indexes need to go.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='vote',
                    name='author',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='votes', to='votes.author'),
                ),
                migrations.AlterField(
                    model_name='vote',
                    name='voter',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='votes', to=settings.AUTH_USER_MODEL),
                ),
            ],
            database_operations=[
                migrations.RunPython(_drop_fk_indexes, _create_fk_indexes),
            ],
        ),
    ]
