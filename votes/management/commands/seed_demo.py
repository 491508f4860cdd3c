"""`manage.py seed_demo [--if-empty]`: fill an empty database with a living demo world.

About 40 authors, 400 posts over the last 60 days, 200 honest voters, a vote
ring and a brigade, a `demo` account (password `merit-demo-password`), today's
reputation and 30 days of honestly recomputed history. See
votes/management/demo_world.py for how it is built.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from votes.management.demo_world import DEMO_PASSWORD, DEMO_USERNAME, seed
from votes.models import Post


class Command(BaseCommand):
    help = "Create a deterministic demo world (authors, posts, voters, votes, bad actors, history)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing (successfully) when the database already has posts"
        )

    def handle(self, *args, if_empty: bool, verbosity: int, **options):
        if Post.objects.exists():
            if if_empty:
                if verbosity >= 1:
                    self.stdout.write("The database already has posts; not seeding the demo world.")
                return
            raise CommandError(
                "The database already has posts. seed_demo only fills an empty database "
                "(use --if-empty to skip quietly, or start from a fresh database)."
            )
        started = time.perf_counter()
        world = seed()
        if verbosity >= 1:
            self.stdout.write(self.style.SUCCESS(
                f"Seeded {world.authors} authors, {world.posts} posts, {world.voters} accounts, {world.votes:,} votes "
                f"and {world.snapshots:,} history snapshots in {time.perf_counter() - started:.1f}s."
            ))
            self.stdout.write(f"Log in as '{DEMO_USERNAME}' with password '{DEMO_PASSWORD}'.")
