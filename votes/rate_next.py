"""The "Rate next" queue: Merit picks the posts a voter rates, so the votes cast on them are a sample nobody aimed.

A voter who chooses what to rate can be steered (a ring agrees on a target and goes to its posts); a
voter who rates what Merit drew cannot. Those votes are *solicited* (Vote.solicited), and the engine
may trust them more, as Community Notes trusts population-sampled raters.

The picks are:
- drawn on the server with the operating system's randomness (`random.SystemRandom`), so nothing a
  voter sees or sends predicts them, and no parameter lets them choose;
- aimed at thin evidence: an author with a wide interval or few solicited votes is up to
  `MAX_AUTHOR_WEIGHT` times as likely as a settled one, and within an author a post with fewer votes is
  likelier. Solicited, not all votes: the engine anchors a score on its solicited votes, and a campaign
  piling votes onto an author must not make Merit ask about that author less;
  Authors are drawn first and one post per author: registering many posts by one author does not make
  it likelier, and the weight cap keeps fresh authors (anyone can make one by voting on a new post)
  from crowding the sample;
- never a post the voter voted on, one by an author they linked as their own, or one already open
  for them;
- bounded: at most `MAX_OPEN` open per voter, each open for `ASSIGNMENT_TTL`. Asking again returns the
  same open picks (no re-rolling until a wanted post comes up); a pick is replaced only once voted on
  or expired.

A vote is solicited only when the server holds an open assignment for that voter and post as the vote
is created (votes.services.vote_cast, in the same statement); the vote closes the assignment in its
transaction. Changing the vote later keeps the flag; a vote retracted and cast again is not solicited.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Exists, Max, Min, OuterRef
from django.utils import timezone

from .claims import open_claims
from .models import Author, Post, RateAssignment, Vote

ASSIGNMENT_TTL = timedelta(hours=24)
MAX_OPEN = 5
MAX_AUTHOR_WEIGHT = 4.0
# Authors considered per draw (probed by random id, so the cost does not grow with the table), and
# posts considered per drawn author.
POOL_AUTHORS = 64
POOL_POSTS = 100

_random = random.SystemRandom()

ASSIGNMENTS = RateAssignment._meta.db_table
# Whether an open assignment covers (user, post); evaluated inside the vote's INSERT. Params: user id,
# post id, oldest issued_at still open.
OPEN_ASSIGNMENT_SQL = (
    f"EXISTS (SELECT 1 FROM {ASSIGNMENTS} WHERE user_id = %s AND post_id = %s "
    "AND used_at IS NULL AND issued_at > %s)"
)
_CLOSE_SQL = f"UPDATE {ASSIGNMENTS} SET used_at = %s WHERE user_id = %s AND post_id = %s AND used_at IS NULL"


def open_since(now: datetime) -> datetime:
    """Assignments issued after this are still open (unless used)."""
    return now - ASSIGNMENT_TTL


def assignment_close(*, user_id: int, post_id: int, at: datetime) -> None:
    """Mark the open assignment used (the caller's transaction: the solicited vote's)."""
    field = RateAssignment._meta.get_field("used_at")
    with connection.cursor() as cur:
        cur.execute(_CLOSE_SQL, [field.get_db_prep_value(at, connection), user_id, post_id])


def open_assignments(user, now: datetime | None = None):
    now = now or timezone.now()
    return RateAssignment.objects.filter(user=user, used_at__isnull=True, issued_at__gt=open_since(now))


def rate_next_assign(*, user, n: int = MAX_OPEN, now: datetime | None = None) -> list[RateAssignment]:
    """The voter's open picks (post_id, issued_at), oldest first, topped up with fresh draws to `n`
    (at most MAX_OPEN).

    Fewer come back when too few posts are left that the voter may rate.
    """
    n = max(0, min(int(n), MAX_OPEN))
    now = now or timezone.now()
    with transaction.atomic():
        # One top-up at a time per voter, or two requests could each fill the quota. NO KEY: the voter's
        # own votes (their foreign key checks) are not blocked meanwhile.
        list(get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk"))
        RateAssignment.objects.filter(user=user, used_at__isnull=True, issued_at__lte=open_since(now)).delete()
        held = list(open_assignments(user, now).order_by("issued_at", "pk").only("post_id", "issued_at")[:n])
        if len(held) < n:
            picks = _draw(user, n - len(held), exclude={a.post_id for a in held})
            fresh = [RateAssignment(user=user, post_id=pk, issued_at=now) for pk in picks]
            # The lock above keeps these from clashing; should one anyway, the open row already there is the same pick.
            RateAssignment.objects.bulk_create(fresh, ignore_conflicts=True)
            held += fresh
    return held


def expires_at(assignment: RateAssignment) -> datetime:
    return assignment.issued_at + ASSIGNMENT_TTL


def _draw(user, k: int, exclude: set[int]) -> list[int]:
    """Up to k post ids, one per author, authors weighted toward thin evidence (see the module docstring).

    A fixed number of queries whatever the voter has rated: the pool, its posts, the voter's votes on
    them, and the vote counts of the drawn authors' candidates.
    """
    pool = _author_pool(user)
    if not pool or k <= 0:
        return []
    weight = dict(pool)
    voted = set(Vote.objects.filter(voter=user, author_id__in=weight).values_list("post_id", flat=True))
    candidates: dict[int, list[int]] = {}
    for author_id, pk in Post.objects.filter(author_id__in=weight).values_list("author_id", "pk"):
        if pk not in voted and pk not in exclude:
            candidates.setdefault(author_id, []).append(pk)
    # Weighted sampling without replacement (Efraimidis-Spirakis): the k largest u ** (1 / w).
    drawn = sorted(candidates, key=lambda a: _random.random() ** (1.0 / weight[a]), reverse=True)[:k]
    shortlist = {a: _random.sample(candidates[a], min(len(candidates[a]), POOL_POSTS)) for a in drawn}
    votes_on = {
        pk: (up or 0) + (down or 0)
        for pk, up, down in Post.objects.filter(pk__in=[pk for ids in shortlist.values() for pk in ids]).values_list(
            "pk", "score__upvotes", "score__downvotes"
        )
    }
    # Within an author, a post with fewer votes is likelier.
    return [_random.choices(ids, weights=[1.0 / (1 + votes_on.get(pk, 0)) for pk in ids])[0] for ids in shortlist.values()]


def _author_pool(user) -> list[tuple[int, float]]:
    """(author id, weight) of up to POOL_AUTHORS authors drawn uniformly, without the voter's own."""
    bounds = Author.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    lo, hi = bounds["lo"], bounds["hi"]
    if lo is None:
        return []
    span = hi - lo + 1
    # Probing random ids treats every existing author alike whatever the gaps between ids.
    ids = range(lo, hi + 1) if span <= 4 * POOL_AUTHORS else _random.sample(range(lo, hi + 1), 4 * POOL_AUTHORS)
    rows = list(
        Author.objects.filter(Exists(Post.objects.filter(author=OuterRef("pk"))), pk__in=ids)
        .exclude(owner=user)
        .exclude(pk__in=open_claims(user.pk).values("author_id"))  # a pending claim's votes are refused too
        .values_list("pk", "reputation__low", "reputation__high", "reputation__explanation__solicited__votes",
                     "reputation__status")
    )
    if len(rows) > POOL_AUTHORS:
        rows = _random.sample(rows, POOL_AUTHORS)
    return [(pk, author_weight(low, high, solicited, status)) for pk, low, high, solicited, status in rows]


# Statuses that say votes were aimed at an author (many from accounts without a record, or a coordinated
# group's): Merit asks the population about it until it has CONTESTED_FACTOR times the solicited votes a
# quiet author needs, so a campaign brings its target more votes nobody aimed, which the engine anchors
# the score on. Turned against an honest author, it only brings that author more such votes.
CONTESTED = ("contested", "under_review")
CONTESTED_FACTOR = 4.0


def author_weight(low: float | None, high: float | None, solicited: int | None, status: str | None = None) -> float:
    """1 for a settled author, up to MAX_AUTHOR_WEIGHT for one with no evidence.

    Thinness is the larger of the interval's width (0-100 as a share) and 10 / (10 + solicited votes):
    votes nobody aimed, which no campaign can add to (it can narrow the interval). A contested author's
    solicited votes count at 1 / CONTESTED_FACTOR.
    """
    width = 1.0 if low is None or high is None else min(max((high - low) / 100.0, 0.0), 1.0)
    n = float(solicited) if isinstance(solicited, int) else 0.0
    if status in CONTESTED:
        n /= CONTESTED_FACTOR
    thin = max(width, 10.0 / (10.0 + max(n, 0)))
    return 1.0 + (MAX_AUTHOR_WEIGHT - 1.0) * thin
