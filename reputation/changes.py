"""The change feed: which authors' public reputation changed, in order, resumable from any cursor.

Writers call `changes_record` after (or inside the transaction of) a reputation write. It compares
each author's public figures with those last announced and gives every author that moved the next
numbers of one sequence. Comparing rather than trusting the caller makes it idempotent and self-healing:
a crash between a refit's write and its record is caught up by the next call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from .models import AuthorChange, ChangeSequence

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class _Solicited(TypedDict):
        solicited_votes: int | None  # votes.selectors.solicited_votes_fallback



# The figures a client sees on a card, at the card's precision; the same SQL on PostgreSQL and SQLite.
FINGERPRINT_SQL = (
    "round(r.score * 10) || '|' || round(r.low * 10) || '|' || round(r.high * 10) || '|' || r.status"
    " || '|' || r.upvotes || '|' || r.downvotes || '|' || r.voters"
)


def changes_record(author_ids: list[int] | None = None) -> int:
    """Give the next feed numbers to the authors (all, for None) whose public figures changed.

    Returns how many were recorded. Runs in the caller's transaction if there is one: the sequence row
    stays locked until it commits, which keeps the feed in commit order.
    """
    if author_ids is not None and not author_ids:
        return 0
    with transaction.atomic():
        ChangeSequence.objects.bulk_create([ChangeSequence(id=1, value=0)], ignore_conflicts=True)
        base = ChangeSequence.objects.select_for_update().values_list("value", flat=True).get(id=1)
        base = max(base, AuthorChange.objects.aggregate(top=Max("seq"))["top"] or 0)  # if the counter was lost
        where, params = "", []
        if author_ids is not None:
            where = f"WHERE r.author_id IN ({', '.join(['%s'] * len(author_ids))})"
            params = list(author_ids)
        table = AuthorChange._meta.db_table
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {table} (author_id, seq, changed_at, fingerprint) "
                "SELECT cur.author_id, %s + ROW_NUMBER() OVER (ORDER BY cur.author_id), %s, cur.fp FROM ("
                f"  SELECT r.author_id, {FINGERPRINT_SQL} AS fp FROM reputation_authorreputation r {where}"
                ") cur "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} c WHERE c.author_id = cur.author_id AND c.fingerprint = cur.fp) "
                "ON CONFLICT (author_id) DO UPDATE SET "
                "seq = EXCLUDED.seq, changed_at = EXCLUDED.changed_at, fingerprint = EXCLUDED.fingerprint",
                [base, timezone.now(), *params],
            )
            recorded = cur.rowcount
        if recorded:
            ChangeSequence.objects.filter(id=1).update(value=base + recorded)
    return recorded


def changes_head() -> int:
    """The feed's latest number (0 before any change)."""
    return ChangeSequence.objects.values_list("value", flat=True).filter(id=1).first() or 0


def changes_since(
    since: int, *, limit: int, platform: str | None = None
) -> list[WithAnnotations[AuthorChange, _Solicited]]:
    """Up to `limit` changes after `since`, oldest first, with each author and reputation loaded."""
    from votes.selectors import solicited_votes_fallback

    rows = AuthorChange.objects.filter(seq__gt=since).order_by("seq")
    if platform:
        rows = rows.filter(author__platform=platform)
    annotated = rows.select_related("author", "author__reputation").annotate(
        solicited_votes=solicited_votes_fallback("author_id", "author__reputation__explanation")
    )
    return list(annotated[:limit])
