# Its own migration (its own transaction): on PostgreSQL, 0004's data step leaves deferred foreign-key
# checks pending on votes_author, and ALTER TABLE refuses to run with pending trigger events.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("votes", "0004_previews_and_handle_claims"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="author",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("owner__isnull", True), ("owner_verified_at__isnull", True)),
                    models.Q(("owner__isnull", False), ("owner_verified_at__isnull", False)),
                    _connector="OR",
                ),
                name="author_owner_has_verified_time",
            ),
        ),
    ]
