"""What other apps hear about authors (the API keeps cached author cards and drops them on this)."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

# An author's public figures may have changed: a new author, a new reputation. Sent after commit with
# author_ids, a list of ids, or None for every author (a full refit, a bulk import).
authors_changed = Signal()


def announce_authors_changed(author_ids: list[int] | None) -> None:
    """Send authors_changed once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: authors_changed.send(sender=None, author_ids=author_ids), robust=True)
