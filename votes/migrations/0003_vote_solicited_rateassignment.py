# "Rate next": a vote records whether Merit picked its post for the voter (Vote.solicited, also on
# VoteEvent so the log replays it), and RateAssignment holds the picks.
#
# The new column has a constant default, so PostgreSQL (11+) adds it without rewriting the table.
# The covering index gains the column (the per-author refresh reads it, and must stay an index-only
# scan): the new index is built CONCURRENTLY before the old one is dropped CONCURRENTLY, as in 0002,
# so the table keeps taking votes and is never without an index on author.

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


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('votes', '0002_vote_covering_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='vote',
            name='solicited',
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name='voteevent',
            name='solicited',
            field=models.BooleanField(db_default=False, default=False),
        ),
        AddIndexConcurrently(
            model_name='vote',
            index=models.Index(
                fields=['author', 'voter'], include=('post', 'value', 'solicited', 'created_at'),
                name='vote_author_voter_cover2',
            ),
        ),
        RemoveIndexConcurrently(
            model_name='vote',
            name='vote_author_voter_cover',
        ),
        migrations.CreateModel(
            name='RateAssignment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('issued_at', models.DateTimeField()),
                ('used_at', models.DateTimeField(blank=True, null=True)),
                ('post', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='votes.post')),
                ('user', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='rate_assignments', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [
                    models.UniqueConstraint(models.F('user'), models.F('post'), condition=models.Q(('used_at__isnull', True)), name='rateassignment_one_open_per_user_post'),
                    models.CheckConstraint(condition=models.Q(('used_at__isnull', True), ('used_at__gte', models.F('issued_at')), _connector='OR'), name='rateassignment_used_after_issued'),
                ],
            },
        ),
    ]
