"""Read queries behind the web pages: a fixed, small number of queries per page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, TypedDict, cast

from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from reputation.models import AuthorReputation, ReputationSnapshot, Status

from .claims import open_claims
from .models import Author, Post, Vote

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from reputation.models import PostScore

    from .models import PostPreview

    class _PostCard(TypedDict):  # what decorate_posts attaches for the card templates
        my_vote: Vote | None
        quality: PostScore | None
        rep: AuthorReputation | None
        is_own: bool
        own_pending: bool
        shown_preview: PostPreview | None

    class _AuthorPage(TypedDict):
        rep: AuthorReputation | None

    class _Ranked(TypedDict):
        rank: int

    PostCard = WithAnnotations[Post, _PostCard]
    AuthorPage = WithAnnotations[Author, _AuthorPage]

FEED_PAGE_SIZE = 20
LEADERBOARD_PAGE_SIZE = 25
MY_VOTES_PAGE_SIZE = 25


def _related(obj, name: str):
    """A reverse one-to-one that may not exist yet (no votes, no refresh) reads as None."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def _posts() -> QuerySet[Post]:
    return Post.objects.select_related("author", "author__reputation", "score", "preview")


def decorate_posts(posts: list[Post], user) -> list[PostCard]:
    """Attach what a post card shows: the viewer's vote, the post's quality, the author's reputation."""
    mine: dict[int, Vote] = {}
    claimed: set[int] = set()
    if user.is_authenticated and posts:
        mine = {v.post_id: v for v in Vote.objects.filter(voter=user, post__in=[p.pk for p in posts])}
        # The viewer's own pending claims count as theirs too (votes.services refuses those votes).
        authors = {p.author_id for p in posts}
        claimed = set(open_claims(user.pk).filter(author__in=authors).values_list("author_id", flat=True))
    cards = cast("list[PostCard]", posts)
    for post in cards:
        post.my_vote = mine.get(post.pk)
        post.quality = _related(post, "score")
        post.rep = _related(post.author, "reputation")
        post.is_own = user.is_authenticated and (post.author.owner_id == user.pk or post.author_id in claimed)
        post.own_pending = post.is_own and post.author.owner_id != user.pk  # claimed, proof not yet posted
        post.shown_preview = _related(post, "preview")
    return cards


def feed_page(*, user, page_number, unrated_only: bool = False) -> Page:
    posts = _posts().order_by("-first_seen", "-pk")
    if unrated_only and user.is_authenticated:
        posts = posts.exclude(votes__voter=user).exclude(author__owner=user)
    page = Paginator(posts, FEED_PAGE_SIZE).get_page(page_number)
    page.object_list = decorate_posts(list(page.object_list), user)
    return page


def post_get(*, pk: int, user) -> PostCard:
    return decorate_posts([_posts().get(pk=pk)], user)[0]


def posts_in_order(*, ids: list[int], user) -> list[PostCard]:
    """The posts with these ids, in that order, decorated for their cards (the "Rate next" page)."""
    found = _posts().in_bulk(ids)
    return decorate_posts([found[pk] for pk in ids if pk in found], user)


def author_get(*, platform: str, handle: str) -> AuthorPage:
    author = cast("AuthorPage", Author.objects.select_related("reputation", "owner").filter(platform=platform)
                  .with_handles(platform, [handle]).get())
    author.rep = _related(author, "reputation")
    return author


def author_posts(*, author: Author, user, limit: int = 20) -> list[PostCard]:
    return decorate_posts(list(_posts().filter(author=author).order_by("-first_seen", "-pk")[:limit]), user)


@dataclass(frozen=True)
class HistoryPoint:
    day: date
    score: float
    low: float
    high: float
    votes: int
    note: str = ""  # e.g. a correction: votes of a newly detected coordinated group stopped counting


def author_history(*, author: Author, days: int = 180) -> list[HistoryPoint]:
    """Daily snapshots, with today's point taken from the live reputation (refreshed after each vote)."""
    since = timezone.now().date() - timedelta(days=days)
    points = [
        HistoryPoint(s.day, s.score, s.low, s.high, s.votes, s.note)
        for s in ReputationSnapshot.objects.filter(author=author, day__gte=since).order_by("day")
    ]
    rep = getattr(author, "rep", None)
    if rep is not None and rep.updated_at is not None and rep.votes:
        today = timezone.now().date()
        note = points.pop().note if points and points[-1].day == today else ""
        if not points or points[-1].day < today:
            points.append(HistoryPoint(today, rep.score, rep.low, rep.high, rep.votes, note))
    return points


def leaderboard_page(*, page_number, platform: str | None = None) -> Page:
    reps = (
        AuthorReputation.objects.select_related("author")
        .exclude(status=Status.INSUFFICIENT)
        .order_by("-score", "-effective_voters", "author_id")
    )
    if platform:
        reps = reps.filter(author__platform=platform)
    page = Paginator(reps, LEADERBOARD_PAGE_SIZE).get_page(page_number)
    ranked = cast("list[WithAnnotations[AuthorReputation, _Ranked]]", page.object_list)
    for rank, rep in enumerate(ranked, start=page.start_index()):
        rep.rank = rank
    return page


def my_votes_page(*, user, page_number) -> Page:
    votes = (
        Vote.objects.filter(voter=user)
        .select_related("post", "post__author", "post__author__reputation", "post__score", "post__preview")
        .order_by("-updated_at", "-pk")
    )
    page = Paginator(votes, MY_VOTES_PAGE_SIZE).get_page(page_number)
    page.object_list = list(page.object_list)
    decorate_posts([v.post for v in page.object_list], user)
    return page


def site_stats() -> dict[str, int]:
    return {
        "posts": Post.objects.count(),
        "authors": AuthorReputation.objects.exclude(status=Status.INSUFFICIENT).count(),
        "votes": Vote.objects.count(),
    }


def solicited_votes_fallback(author: str = "pk", explanation: str = "reputation__explanation") -> Case:
    """An annotation: the author's solicited votes counted in the votes table, asked only where the
    engine's explanation has no count of its own (its "solicited" key); NULL where it has one.

    `author` and `explanation` name the author id and the explanation as seen from the queried model.
    """
    counted = (
        Vote.objects.filter(author=OuterRef(author), solicited=True).order_by().values("author").annotate(n=Count("pk"))
    )
    return Case(
        When(**{f"{explanation}__has_key": "solicited"}, then=Value(None)),
        default=Coalesce(Subquery(counted.values("n")[:1]), 0),
        output_field=IntegerField(),
    )
