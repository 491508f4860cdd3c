"""What other apps hear about authors and posts (the API keeps cached cards and drops them on these)."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

# An author's public figures may have changed: a new author, a new reputation. Sent after commit with
# author_ids, a list of ids, or None for every author (a full refit, a bulk import).
authors_changed = Signal()


def announce_authors_changed(author_ids: list[int] | None) -> None:
    """Send authors_changed once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: authors_changed.send(sender=None, author_ids=author_ids), robust=True)


# A post's public card may have changed (its preview was fetched). Sent after commit with posts, a list of
# (platform, external_id) pairs.
posts_changed = Signal()


def announce_posts_changed(posts: list[tuple[str, str]]) -> None:
    """Send posts_changed once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: posts_changed.send(sender=None, posts=posts), robust=True)
