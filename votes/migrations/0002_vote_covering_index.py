# The per-author refresh reads an author's votes by an index-only scan of (author, voter)
# with the vote's other fields included; the single-column voter and author indexes go, as
# unique (voter, post) and this index lead with those columns.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('votes', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The new index first, so the table is never without an index on author.
        migrations.AddIndex(
            model_name='vote',
            index=models.Index(fields=['author', 'voter'], include=('post', 'value', 'created_at'), name='vote_author_voter_cover'),
        ),
        migrations.RemoveIndex(
            model_name='vote',
            name='votes_vote_author__a302d3_idx',
        ),
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
    ]
