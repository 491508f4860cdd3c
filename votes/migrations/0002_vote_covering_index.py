# The per-author refresh reads an author's votes by an index-only scan of (author, voter)
# with the vote's other fields included; the single-column voter and author indexes go, as
# unique (voter, post) and this index lead with those columns.
#
# On PostgreSQL the index is built and the old one dropped CONCURRENTLY: a plain CREATE INDEX
# blocks every vote for as long as the build takes (about half a minute at 10M votes).

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres import operations as postgres_operations
from django.db import migrations, models


def _plain_off_postgres(concurrent_operation, plain_operation):
    """Django's CONCURRENTLY operations are PostgreSQL's; on SQLite (`make run`) the plain one runs."""

    class Operation(concurrent_operation):
        def database_forwards(self, app_label, schema_editor, from_state, to_state):
            base = concurrent_operation if schema_editor.connection.vendor == "postgresql" else plain_operation
            base.database_forwards(self, app_label, schema_editor, from_state, to_state)

        def database_backwards(self, app_label, schema_editor, from_state, to_state):
            base = concurrent_operation if schema_editor.connection.vendor == "postgresql" else plain_operation
            base.database_backwards(self, app_label, schema_editor, from_state, to_state)

    return Operation


AddIndexConcurrently = _plain_off_postgres(postgres_operations.AddIndexConcurrently, migrations.AddIndex)
RemoveIndexConcurrently = _plain_off_postgres(postgres_operations.RemoveIndexConcurrently, migrations.RemoveIndex)
# The foreign keys' single-column indexes, as 0001 named them.
FK_INDEXES = {"votes_vote_author_id_05d289d5": "author_id", "votes_vote_voter_id_5a5a77f0": "voter_id"}


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def _drop_fk_indexes(apps, schema_editor):
    for name in FK_INDEXES:
        schema_editor.execute(f'DROP INDEX {_concurrently(schema_editor)}IF EXISTS "{name}"')


def _create_fk_indexes(apps, schema_editor):
    for name, column in FK_INDEXES.items():
        schema_editor.execute(f'CREATE INDEX {_concurrently(schema_editor)}IF NOT EXISTS "{name}" ON "votes_vote" ("{column}")')


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
