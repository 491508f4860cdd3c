"""`manage.py fetch_previews`: give posts that have no preview one (posts registered before previews, or
inserted in bulk by import_votes and seed_demo), and queue their fetches for the worker."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from votes import previews
from votes.models import Post, PostPreview, PreviewStatus


class Command(BaseCommand):
    help = "Queue a preview fetch for every post without a preview (or only the newest --limit of them)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="at most this many posts, newest first")
        parser.add_argument("--dry-run", action="store_true", help="count them, change nothing")

    def handle(self, *args, limit: int | None, dry_run: bool, verbosity: int, **options):
        missing = Post.objects.filter(preview__isnull=True).order_by("-first_seen", "-pk").values_list("pk", flat=True)
        ids = list(missing[:limit] if limit else missing)
        if dry_run:
            self.stdout.write(f"{len(ids)} post(s) have no preview; nothing changed (dry run).")
            return
        now = timezone.now()
        with transaction.atomic():
            PostPreview.objects.bulk_create(
                [PostPreview(post_id=pk, status=PreviewStatus.PENDING, next_attempt_at=now) for pk in ids],
                ignore_conflicts=True, batch_size=1000,
            )
        # After the commit: the worker must find the rows. A lost message is the sweep's (next_attempt_at).
        queued = sum(previews.preview_enqueue(pk) for pk in ids)
        if verbosity:
            self.stdout.write(self.style.SUCCESS(f"{len(ids)} preview(s) created, {queued} fetch(es) queued."))
