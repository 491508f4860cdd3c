"""Leaderboard rankings: each full refit freezes the order of ranked authors, and the API pages through
one frozen ranking by position. A cursor names its ranking and a position in it, so it keeps its place
across the refits that rewrite every score, for as long as its ranking is kept (LEADERBOARD_KEEP)."""

from __future__ import annotations

from django.db import connection, transaction

from .models import LeaderboardEntry, LeaderboardRanking, Status

RANKED = (Status.ESTABLISHED, Status.PROVISIONAL)
# Rankings kept: the newest and the ones before it, so a cursor outlives at least LEADERBOARD_KEEP - 1
# refits (10 minutes at the default refit period) before it must start again.
LEADERBOARD_KEEP = 3


def ranking_create() -> int:
    """Freeze the current order (score, then author id, both descending) into a new ranking; drop old ones."""
    with transaction.atomic():
        ranking = LeaderboardRanking.objects.create()
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {LeaderboardEntry._meta.db_table} (ranking_id, platform, rank, author_id) "
                "SELECT %s, a.platform, ROW_NUMBER() OVER (PARTITION BY a.platform ORDER BY r.score DESC, "
                "r.author_id DESC), r.author_id "
                "FROM reputation_authorreputation r JOIN votes_author a ON a.id = r.author_id "
                f"WHERE r.status IN ({', '.join(['%s'] * len(RANKED))})",
                [ranking.pk, *RANKED],
            )
    stale = LeaderboardRanking.objects.order_by("-pk").values_list("pk", flat=True)[LEADERBOARD_KEEP:]
    LeaderboardRanking.objects.filter(pk__in=list(stale)).delete()
    return ranking.pk


def ranking_current() -> int:
    """The newest ranking's id; the first one is made on demand (before any refit)."""
    newest = LeaderboardRanking.objects.order_by("-pk").values_list("pk", flat=True).first()
    return newest if newest is not None else ranking_create()


def ranking_exists(ranking_id: int) -> bool:
    return LeaderboardRanking.objects.filter(pk=ranking_id).exists()
