"""API reads: author cards from the denormalised AuthorReputation row, cached in Redis.

Nothing here aggregates votes; a card is one row of AuthorReputation joined to
its Author. A card stays cached until its author changes (votes.signals.authors_changed:
a refresh, a refit, a new author drops it); settings.API_CARD_TTL is only a backstop
(and the limit when the cache is per process, without Redis). Each worker process
also keeps cards for LOCAL_TTL seconds, so a change reaches every reader within
that, well inside the public max-age.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from config.ops.metrics import CACHE_HITS, CACHE_MISSES
from config.ops.site_url import site_url
from reputation import changes
from reputation.models import AuthorReputation, LeaderboardEntry, PostScore, ReputationSnapshot
from votes.models import Author, Post, PostPreview, Vote
from votes.selectors import solicited_votes_fallback

log = logging.getLogger(__name__)

LOCAL_TTL = 15
# Cache counters for /metrics (ops.metrics), bound once: a labelled child per lookup would cost a dict probe.
_CARD_HITS_LOCAL = CACHE_HITS.labels("author_card_local")
_CARD_HITS_SHARED = CACHE_HITS.labels("author_card_shared")
_CARD_MISSES = CACHE_MISSES.labels("author_card")
_POST_HITS = CACHE_HITS.labels("post_card")
_POST_MISSES = CACHE_MISSES.labels("post_card")
# Cards are stored with the generation they were read under; a full refit starts a new one.
CARD_GENERATION_KEY = "api:card-gen"
POST_TTL = 30
_UNKNOWN = 0  # cached marker for "no such post", so misses are cheap too


class LocalCache:
    """A few seconds of cards in each worker process, in front of Redis: hot authors cost no round trip.

    Another process's change reaches these copies within LOCAL_TTL (15 s), inside the public max-age of 60 s.
    Entries are kept per platform and keyed by the bare handle, so a 100-handle batch is one dictionary probe
    per handle.
    """

    def __init__(self, ttl: float, max_entries: int = 20000):
        self.ttl, self.max_entries = ttl, max_entries
        # platform -> handle -> (monotonic expiry, card JSON)
        self.data: dict[str, dict[str, tuple[float, str]]] = {}

    def get_many(self, platform: str, handles) -> dict[str, str]:
        now, found = time.monotonic(), {}
        cards = self.data.get(platform)
        if cards:
            for handle in handles:
                entry = cards.get(handle)
                if entry is not None and entry[0] > now:
                    found[handle] = entry[1]
        return found

    def set_many(self, platform: str, items: dict[str, str]) -> None:
        cards = self.data.get(platform)
        if cards is None or len(cards) > self.max_entries:
            cards = self.data[platform] = {}
        # Each entry lives 75-100% of the TTL: cards filled together (a cold start, a big batch) must not all
        # expire together, or every worker refills them at the same moment (seen as p95 spikes in the bench).
        now, ttl = time.monotonic(), self.ttl
        cards.update({handle: (now + ttl * (0.75 + 0.25 * random.random()), text) for handle, text in items.items()})

    def forget(self, platform: str, handles) -> None:
        cards = self.data.get(platform, {})
        for handle in handles:
            cards.pop(handle, None)

    def clear(self) -> None:
        self.data = {}


local_cards = LocalCache(LOCAL_TTL)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def author_page_url(platform: str, handle: str, *, relative: bool = False) -> str:
    """The author's page on the site; `relative` for cached cards, which absolute_urls() completes per request."""
    path = settings.API_AUTHOR_PAGE_PATH.format(platform=platform, handle=handle)
    return path if relative or not path.startswith("/") else site_url() + path


def absolute_urls(text: str) -> str:
    """Cached card JSON with its site-relative `url`s made absolute for this request's address.

    Cards are cached once for every reader, whatever host or port they came in on, so the cache holds
    the path. The only unescaped `"url":"/` in a card's compact JSON is its own member.
    """
    return text.replace('"url":"/', f'"url":"{site_url()}/')


def solicited_share(author: Author, rep: AuthorReputation, counted: int | None = None) -> float:
    """Share of the author's votes that Merit solicited ("Rate next"), 0-1.

    From the engine's explanation ({"solicited": {"votes": n, ...}}) when it has one, else from
    `counted` (votes.selectors.solicited_votes_fallback), else from one count of the votes table.
    """
    explanation = rep.explanation or {}
    given = explanation.get("solicited")
    total = rep.upvotes + rep.downvotes
    if isinstance(given, dict) and isinstance(given.get("votes"), int):
        solicited = given["votes"]
        total = explanation.get("votes", total) if isinstance(explanation.get("votes"), int) else total
    elif counted is not None or not total:
        solicited = counted or 0
    else:
        solicited = Vote.objects.filter(author_id=author.pk, solicited=True).count()
    return round(min(max(solicited / total, 0.0), 1.0), 3) if total > 0 else 0.0


def author_card(
    author: Author, rep: AuthorReputation | None, solicited_votes: int | None = None, *, relative: bool = False
) -> dict:
    """The public <Author> object of the API contract.

    `solicited_votes` is the solicited_votes_fallback annotation where the query carried it; `relative`
    leaves `url` a path (for the cache, see absolute_urls).
    """
    if rep is None:  # registered, never scored yet: the model's defaults
        rep = AuthorReputation(author=author)
    return {
        "platform": author.platform,
        "handle": author.handle,
        "url": author_page_url(author.platform, author.handle, relative=relative),
        "score": _round(rep.score),
        "low": _round(rep.low),
        "high": _round(rep.high),
        "status": rep.status,
        "votes": rep.upvotes + rep.downvotes,
        "upvotes": rep.upvotes,
        "downvotes": rep.downvotes,
        "voters": rep.voters,
        "effective_voters": _round(rep.effective_voters, 2),
        "solicited_share": solicited_share(author, rep, solicited_votes),
        "percentile": _round(rep.percentile),
        "follower_count": author.follower_count,
        "updated_at": rep.updated_at.isoformat().replace("+00:00", "Z") if rep.updated_at else None,
        "explanation": rep.explanation or {},
        "verified": author.owner_id is not None,  # only a proved claim sets the owner (votes.claims)
        "verified_since": _iso(author.owner_verified_at),
    }


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _rep_of(author: Author) -> AuthorReputation | None:
    try:
        return author.reputation
    except AuthorReputation.DoesNotExist:
        return None


_PLAIN_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def _card_key(platform: str, handle: str) -> str:
    # Cache keys stay printable ASCII (as memcached requires): odd handles are keyed by their digest.
    if not _PLAIN_KEY.fullmatch(handle):
        handle = "sha256-" + hashlib.sha256(handle.encode()).hexdigest()
    return f"api:card:{platform}:{handle}"


def card_json(card: dict | None) -> str:
    # Encoded like DRF's JSONRenderer (compact, UTF-8), once per cache fill rather than per response.
    return json.dumps(card, ensure_ascii=False, separators=(",", ":"))


def authors_lookup_json(platform: str, handles: list[str]) -> dict[str, str]:
    """Encoded cards keyed by handle, in the order asked ("null" for unknown handles), `url`s site-relative
    (absolute_urls() completes them).

    `handles` are lower-cased and distinct (as the serializers leave them). Per-process cache first, then
    one Redis round trip, then at most one query for the rest.
    """
    found = local_cards.get_many(platform, handles)
    _CARD_HITS_LOCAL.inc(len(found))
    if len(found) == len(handles):
        return found
    keys = {h: _card_key(platform, h) for h in handles if h not in found}
    shared = cache.get_many([*keys.values(), CARD_GENERATION_KEY])  # one round trip, the generation with it
    generation = shared.pop(CARD_GENERATION_KEY, None)
    if shared and generation is not None:
        # A card is "<generation>:<json>"; one written before the last full refit is a miss.
        prefix = f"{generation}:"
        shared = {h: shared[key][len(prefix):] for h, key in keys.items() if shared.get(key, "").startswith(prefix)}
        local_cards.set_many(platform, shared)
        found.update(shared)
        _CARD_HITS_SHARED.inc(len(shared))
    missing = [h for h in keys if h not in found]
    if missing:
        _CARD_MISSES.inc(len(missing))
        known = {
            a.handle.lower(): card_json(author_card(a, _rep_of(a), a.solicited_votes, relative=True))
            for a in Author.objects.with_handles(platform, missing)
            .select_related("reputation")
            .annotate(solicited_votes=solicited_votes_fallback())
        }
        fresh = {h: known.get(h, "null") for h in missing}
        if generation is None:
            generation = _start_card_generation()
        if generation is not None:  # else the cache is down or just started elsewhere: skip the write
            cache.set_many(
                {keys[h]: f"{generation}:{text}" for h, text in fresh.items()},
                round(settings.API_CARD_TTL * (0.75 + 0.25 * random.random())),  # spread refills too
            )
        local_cards.set_many(platform, fresh)
        found.update(fresh)
    return {h: found[h] for h in handles}


def _start_card_generation() -> int | None:
    """Set the first generation if there is none; None unless this call set it.

    Milliseconds since the epoch, so a generation lost with the cache restarts above every earlier one
    (refits are minutes apart): cards left from before the loss cannot match it.
    """
    first = time.time_ns() // 1_000_000
    return first if cache.add(CARD_GENERATION_KEY, first, timeout=None) else None


def cards_forget_all() -> None:
    """Every cached card at once, in O(1): a new generation makes every stored card a miss."""
    try:
        cache.incr(CARD_GENERATION_KEY)
    except ValueError:  # no generation yet (or the cache lost it): any new one disowns the old cards
        cache.set(CARD_GENERATION_KEY, time.time_ns() // 1_000_000, timeout=None)
    local_cards.clear()


def _forget_again_later(task_name: str, **kwargs) -> None:
    """With read replicas, a reader on one that has not replayed a change yet can refill the shared cache
    with the old card right after it was dropped: drop it once more when the replicas have caught up (the
    REPLICA_PIN_SECONDS the read-your-writes pins assume). A broker failure only leaves the card to its TTL."""
    if not settings.DATABASE_REPLICAS:
        return
    from . import tasks

    try:
        getattr(tasks, task_name).apply_async(kwargs=kwargs, countdown=settings.REPLICA_PIN_SECONDS)
    except Exception:
        log.warning("could not schedule the second drop of cached cards; they expire by their TTL", exc_info=True)


def cards_forget(sender=None, *, author_ids: list[int] | None, again: bool = False, **kwargs) -> None:
    """Drop the cached cards of authors that changed (receives votes.signals.authors_changed).

    Shared cards go at once (all of them, for None, by a new generation); other processes' local
    copies live out their LOCAL_TTL. With replicas, once more a little later (`_forget_again_later`).
    """
    if not again:
        _forget_again_later("forget_cards_again", author_ids=author_ids)
    if author_ids is None:
        cards_forget_all()
        return
    authors = Author.objects.filter(pk__in=author_ids)
    by_platform: dict[str, list[str]] = {}
    for platform, handle in authors.values_list("platform", "handle").iterator(chunk_size=5000):
        by_platform.setdefault(platform, []).append(handle.lower())
    for platform, handles in by_platform.items():
        for start in range(0, len(handles), 1000):
            cache.delete_many([_card_key(platform, h) for h in handles[start : start + 1000]])
        local_cards.forget(platform, handles)


_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def batch_json(platform: str, handles: list[str]) -> str:
    """The whole batch answer, assembled from already-encoded cards."""
    cards = authors_lookup_json(platform, handles)
    # Handles almost never need escaping: one check over all of them, then plain quoting (json.dumps per
    # key was a third of a 100-handle batch's time).
    if _NEEDS_ESCAPE.search("".join(cards)):
        results = ",".join(f"{json.dumps(h, ensure_ascii=False)}:{text}" for h, text in cards.items())
    else:
        results = ",".join([f'"{h}":{text}' for h, text in cards.items()])
    return absolute_urls(f'{{"platform":{json.dumps(platform)},"results":{{{results}}}}}')


def author_history(author: Author, days: int) -> list[dict]:
    since = timezone.now().date() - timedelta(days=days - 1)
    rows = ReputationSnapshot.objects.filter(author=author, day__gte=since).order_by("day")
    return [
        {"day": r.day.isoformat(), "score": _round(r.score), "low": _round(r.low), "high": _round(r.high),
         "votes": r.votes, "note": r.note}
        for r in rows.only("day", "score", "low", "high", "votes", "note")
    ]


def post_card(platform: str, post_id: str) -> dict | None:
    """A post's public quality (from PostScore), cached like author cards; None if unknown."""
    key = _post_key(platform, post_id)
    card = cache.get(key)
    (_POST_MISSES if card is None else _POST_HITS).inc()
    if card is None:
        post = (
            Post.objects.select_related("author", "score", "preview")
            .filter(platform=platform, external_id=post_id).first()
        )
        card = _UNKNOWN
        if post is not None:
            try:
                score = post.score
            except PostScore.DoesNotExist:
                score = None
            card = {"id": post.pk, **_post_fields(post, score)}
        cache.set(key, card, POST_TTL)
    return card or None


def my_vote(user, post_pk: int) -> int | None:
    if not user.is_authenticated:
        return None
    return Vote.objects.filter(voter=user, post_id=post_pk).values_list("value", flat=True).first()


def leaderboard_entries(platform: str):
    """The rows of the frozen rankings (reputation.leaderboard) for one platform; the paginator picks one."""
    return (
        LeaderboardEntry.objects.filter(platform=platform)
        .select_related("author", "author__reputation")
        .annotate(solicited_votes=solicited_votes_fallback("author_id", "author__reputation__explanation"))
    )


def changes_page(since: int, limit: int, platform: str | None = None) -> tuple[list[dict], str, bool]:
    """(items, cursor to resume from, whether more are waiting) of the change feed after `since`."""
    rows = changes.changes_since(since, limit=limit + 1, platform=platform)
    more, rows = len(rows) > limit, rows[:limit]
    items = [
        {
            "cursor": str(row.seq),
            "changed_at": row.changed_at.isoformat().replace("+00:00", "Z"),
            "author": author_card(row.author, _rep_of(row.author), row.solicited_votes),
        }
        for row in rows
    ]
    return items, str(rows[-1].seq if rows else since), more


def vote_card(vote: Vote) -> dict:
    return {
        "platform": vote.post.platform,
        "post_id": vote.post.external_id,
        "author": vote.author.handle,
        "value": vote.value,
        "reason": vote.reason,
        "solicited": vote.solicited,
        "created_at": vote.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": vote.updated_at.isoformat().replace("+00:00", "Z"),
    }


def rate_next_card(post: Post, expires_at) -> dict:
    """One post Merit picked for the caller (GET /api/v1/rate-next)."""
    try:
        score = post.score
    except PostScore.DoesNotExist:
        score = None
    return {**_post_fields(post, score), "expires_at": expires_at.isoformat().replace("+00:00", "Z")}


def _post_fields(post, score) -> dict:
    """A post's public fields and its scores (None: not scored yet)."""
    return {
        "platform": post.platform,
        "post_id": post.external_id,
        "author": post.author.handle,
        "url": post.url,
        "quality": _round(score.quality) if score else None,
        "upvotes": score.upvotes if score else 0,
        "downvotes": score.downvotes if score else 0,
        "preview": preview_fields(post),
    }


def preview_fields(post) -> dict | None:
    """The post's <Preview> object (votes.previews), or None for a post registered before previews."""
    try:
        preview = post.preview
    except PostPreview.DoesNotExist:
        return None
    return {
        "text": preview.text, "author_name": preview.author_name, "created_at": _iso(preview.created_at),
        "fetched_at": _iso(preview.fetched_at), "status": preview.status, "image_url": preview.image_url or None,
    }


def post_cards_forget(sender=None, *, posts: list[tuple[str, str]], again: bool = False, **kwargs) -> None:
    """Drop cached post cards whose preview changed (receives votes.signals.posts_changed); with
    replicas, once more a little later (`_forget_again_later`)."""
    if not again:
        _forget_again_later("forget_post_cards_again", posts=[list(p) for p in posts])
    cache.delete_many([_post_key(platform, post_id) for platform, post_id in posts])


def _post_key(platform: str, post_id: str) -> str:
    return f"api:post:{platform}:{post_id}"


def logins_prune() -> dict:
    """Delete expired sessions (Django's `clearsessions`) and expired device tokens (knox TTL)."""
    from django.core.management import call_command
    from knox.models import AuthToken

    call_command("clearsessions")
    _, deleted = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return {"tokens": deleted.get(AuthToken._meta.label, 0)}
