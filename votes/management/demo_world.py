"""A small, deterministic demo world for `seed_demo`: honest voters, a few bad actors, a history.

Every author has a hidden quality; honest voters upvote a post with a
probability that grows with it (plus per-voter leniency and per-post noise),
so follower counts and deserved reputation visibly disagree. Two attacks show
what the engine must resist:

- a ring: fresh accounts, created days ago, upvote every post of one weak
  author with a large (bought) following;
- a brigade: younger accounts downvote every recent post of one strong author
  in a burst.

History is computed honestly, not drawn: for each of the last HISTORY_DAYS days
the engine is fitted on the votes cast before the end of that day, as of that
moment, and the result is stored as that day's ReputationSnapshot (note
"backfilled by seed_demo"). Today's snapshot comes from the ordinary full
recompute. The same seed always builds the same world, dated relative to now.
"""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import datetime, timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from reputation import data as rep_data
from reputation.engine import get_engine
from reputation.models import ReputationSnapshot
from reputation.services import recompute_all
from votes.models import Author, Post, Vote, VoteEvent
from votes.platforms import get_platform
from votes.signals import announce_authors_changed

User = get_user_model()
SEED = 20240917
DAYS = 60
HISTORY_DAYS = 30
DEMO_USERNAME, DEMO_PASSWORD = "demo", "merit-demo-password"
X_EPOCH_MS = 1288834974657  # X snowflake ids count milliseconds from this instant

# (handle, platform, followers, hidden quality): named roles first, then the crowd.
NAMED = [
    ("growth_guru", "x", 2_150_000, -1.4),  # bought following, weak posts, pushed by the ring
    ("dr_lena_k", "x", 14_200, 1.6),  # careful and good, brigaded
    ("hot_takes_daily", "x", 1_240_000, -1.0),  # big and undeserved
    ("viral_vince", "x", 860_000, -0.8),  # big and undeserved
    ("quiet_stats", "x", 910, 1.5),  # small and excellent
    ("maria.bsky.social", "bluesky", 4_300, 1.1),
    ("ocean-notes.bsky.social", "bluesky", 1_150, 0.6),
]
# Mastodon authors (user@instance), one on another instance: the demo's fediverse.
FEDIVERSE = [
    ("ada_lovelace@mastodon.social", "mastodon", 5_600, 1.2),
    ("tidepool@fosstodon.org", "mastodon", 820, 0.7),
    ("loud_larry@mastodon.social", "mastodon", 48_000, -0.9),
]
CROWD = [
    "ada_writes", "bytesized_ben", "chem_carla", "civic_dan", "dataviz_dee", "econ_elif", "field_notes_fay",
    "garden_gus", "history_hana", "infra_ivan", "jazz_jun", "kernel_kim", "linguist_leo", "maps_mina",
    "nightsky_nat", "oss_omar", "policy_pia", "quant_quinn", "rust_rae", "sci_sam", "trail_tom",
    "urban_uma", "vet_victor", "weather_wren", "xray_xia", "yoga_yusuf", "zoology_zoe", "climate_cai",
    "markets_mo", "nutrition_ned", "physics_priya", "rail_rita", "sports_sol",
]
FIRST = [
    "alex", "bea", "chris", "dana", "eli", "fran", "gabe", "hal", "iris", "jo", "kai", "lou", "max", "nia",
    "ola", "pat", "rae", "sky", "tess", "uli", "val", "wes", "yan", "zed",
]
LAST = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "w"]


@dataclasses.dataclass
class World:
    authors: int
    posts: int
    voters: int
    votes: int
    snapshots: int


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _x_post_id(at: datetime, rng: random.Random) -> str:
    ms = int(at.timestamp() * 1000) - X_EPOCH_MS
    return str((ms << 22) | rng.getrandbits(22))


def _bsky_post_id(rng: random.Random) -> str:
    return "3k" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(11))


def _mastodon_post_id(handle: str, at: datetime, rng: random.Random) -> str:
    """instance:status-id, the id Mastodon's way (milliseconds since 1970 above 16 random bits)."""
    return f"{handle.partition('@')[2]}:{(int(at.timestamp() * 1000) << 16) | rng.getrandbits(16)}"


def _post_id(author: Author, at: datetime, rng: random.Random) -> str:
    if author.platform == "x":
        return _x_post_id(at, rng)
    if author.platform == "mastodon":
        return _mastodon_post_id(author.handle, at, rng)
    return _bsky_post_id(rng)


@dataclasses.dataclass
class _Hidden:
    """The world's hidden traits, never stored: they only drive the simulated honest votes."""

    author_quality: dict[int, float] = dataclasses.field(default_factory=dict)  # by author id
    post_quality: dict[int, float] = dataclasses.field(default_factory=dict)  # by post id
    leniency: dict[int, float] = dataclasses.field(default_factory=dict)  # by user id
    activity: dict[int, float] = dataclasses.field(default_factory=dict)  # by user id


@transaction.atomic
def build(now: datetime | None = None) -> World:
    now = now or timezone.now()
    rng = random.Random(SEED)
    hidden = _Hidden()
    authors = _authors(rng, hidden)
    posts = _posts(rng, authors, hidden, now)
    voters, demo = _voters(rng, now, hidden)
    votes = _honest_votes(rng, [*voters, demo], posts, hidden, now)
    votes += _ring(rng, now, posts, authors["growth_guru"])
    votes += _brigade(rng, now, posts, authors["dr_lena_k"])
    Vote.objects.bulk_create(votes, batch_size=2000)
    VoteEvent.objects.bulk_create(
        [VoteEvent(voter_id=v.voter_id, post_id=v.post_id, action="cast", value=v.value, source="seed", at=v.created_at)
         for v in votes],
        batch_size=2000,
    )
    return World(len(authors), len(posts), User.objects.count(), len(votes), 0)


def _authors(rng: random.Random, hidden: _Hidden) -> dict[str, Author]:
    rows = list(NAMED)
    for handle in CROWD:
        rows.append((handle, "x", int(rng.lognormvariate(8.5, 1.6)), rng.gauss(0.2, 0.8)))
    rows += FEDIVERSE
    existing = {(a.platform, a.handle.lower()): a for a in Author.objects.all()}
    new = [Author(platform=p, handle=h, follower_count=f) for h, p, f, _ in rows if (p, h.lower()) not in existing]
    Author.objects.bulk_create(new)
    announce_authors_changed(None)
    by_handle = {**{a.handle.lower(): a for a in existing.values()}, **{a.handle.lower(): a for a in new}}
    result = {}
    for handle, _, _, quality in rows:
        author = by_handle[handle.lower()]
        hidden.author_quality[author.pk] = quality
        result[handle] = author
    return result


def _posts(rng: random.Random, authors: dict[str, Author], hidden: _Hidden, now: datetime) -> list[Post]:
    # Prolific authors post more; everyone posts at least twice.
    weights = {h: rng.uniform(0.5, 3.0) for h in authors}
    total = sum(weights.values())
    plan = []
    for handle, author in authors.items():
        n = max(2, round(400 * weights[handle] / total))
        for _ in range(n):
            at = now - timedelta(seconds=rng.uniform(3600, DAYS * 86400))
            plan.append((author, at))
    posts, qualities = [], []  # qualities by position: the posts have no ids before bulk_create
    for author, at in sorted(plan, key=lambda p: p[1]):
        pid = _post_id(author, at, rng)
        post = Post(platform=author.platform, external_id=pid, author=author,
                    url=get_platform(author.platform).canonical_url(author.handle, pid))
        post.first_seen = at
        qualities.append(hidden.author_quality[author.pk] + rng.gauss(0, 0.6))
        posts.append(post)
    times = [p.first_seen for p in posts]
    Post.objects.bulk_create(posts)
    hidden.post_quality.update((post.pk, quality) for post, quality in zip(posts, qualities, strict=True))
    # bulk_create applies auto_now_add; put the posting times back (bulk_update skips pre_save).
    for post, at in zip(posts, times):
        post.first_seen = at
    Post.objects.bulk_update(posts, ["first_seen"], batch_size=500)
    first: dict[int, datetime] = {}
    for post in posts:
        first.setdefault(post.author_id, post.first_seen)
    authors_seen = [a for a in authors.values() if a.pk in first]
    for author in authors_seen:
        author.first_seen = first[author.pk]
    Author.objects.bulk_update(authors_seen, ["first_seen"])
    return posts


def _make_users(specs: list[tuple[str, datetime]]) -> list:
    existing = dict(User.objects.filter(username__in=[u for u, _ in specs]).values_list("username", "pk"))
    new = [User(username=u, password=make_password(None), date_joined=j) for u, j in specs if u not in existing]
    User.objects.bulk_create(new)
    by_name = {u.username: u for u in User.objects.filter(username__in=[u for u, _ in specs])}
    return [by_name[u] for u, _ in specs]


def _voters(rng: random.Random, now: datetime, hidden: _Hidden):
    specs: list[tuple[str, datetime]] = []
    seen: set[str] = set()
    while len(specs) < 200:
        name = f"{rng.choice(FIRST)}_{rng.choice(LAST)}{rng.randint(1, 99)}"
        if name in seen:
            continue
        seen.add(name)
        # A fifth are new accounts; the rest range up to four years old.
        age = rng.uniform(2, 30) if rng.random() < 0.2 else rng.uniform(30, 1500)
        specs.append((name, now - timedelta(days=age)))
    voters = _make_users(specs)
    for voter in voters:
        hidden.leniency[voter.pk], hidden.activity[voter.pk] = rng.gauss(0.2, 0.5), rng.lognormvariate(3.0, 0.7)
    demo = User.objects.filter(username=DEMO_USERNAME).first()
    if demo is None:
        demo = User.objects.create_user(DEMO_USERNAME, password=DEMO_PASSWORD, first_name="Demo")
        User.objects.filter(pk=demo.pk).update(date_joined=now - timedelta(days=240))
        demo.refresh_from_db()
    hidden.leniency[demo.pk], hidden.activity[demo.pk] = 0.0, 25
    return voters, demo


def _honest_votes(rng: random.Random, voters, posts: list[Post], hidden: _Hidden, now: datetime) -> list[Vote]:
    weights = [(p.author.follower_count or 1) ** 0.25 for p in posts]
    votes = []
    for voter in voters:
        joined = voter.date_joined
        open_posts = [(p, w) for p, w in zip(posts, weights) if p.first_seen > joined - timedelta(days=3)]
        if not open_posts:
            continue
        n = min(len(open_posts), max(3, int(hidden.activity[voter.pk])))
        chosen: set[int] = set()
        for post in rng.choices([p for p, _ in open_posts], weights=[w for _, w in open_posts], k=n * 2):
            if len(chosen) >= n or post.pk in chosen:
                continue
            chosen.add(post.pk)
            up = rng.random() < _sigmoid(1.6 * hidden.post_quality[post.pk] + hidden.leniency[voter.pk])
            at = max(post.first_seen, joined) + timedelta(hours=rng.expovariate(1 / 30))
            votes.append(_vote(voter, post, 1 if up else -1, min(at, now - timedelta(minutes=5))))
    return votes


def _vote(voter, post: Post, value: int, at: datetime) -> Vote:
    return Vote(voter_id=voter.pk, post_id=post.pk, author_id=post.author_id, value=value, created_at=at, updated_at=at)


def _ring(rng: random.Random, now: datetime, posts: list[Post], target: Author) -> list[Vote]:
    """Twelve accounts created this week, upvoting everything the target posted in the last days."""
    ring = _make_users([(f"growthfan{i:02d}", now - timedelta(days=rng.uniform(2, 6))) for i in range(1, 13)])
    targets = [p for p in posts if p.author_id == target.pk]
    votes = []
    for member in ring:
        for post in targets:
            at = max(post.first_seen, member.date_joined) + timedelta(minutes=rng.uniform(1, 90))
            votes.append(_vote(member, post, 1, min(at, now - timedelta(minutes=5))))
    return votes


def _brigade(rng: random.Random, now: datetime, posts: list[Post], target: Author) -> list[Vote]:
    """Fifteen young accounts downvoting the target's posts of the last three weeks within a few days."""
    brigade = _make_users([(f"truthsquad_{i}", now - timedelta(days=rng.uniform(8, 20))) for i in range(1, 16)])
    recent = [p for p in posts if p.author_id == target.pk and p.first_seen > now - timedelta(days=21)]
    start = now - timedelta(days=5)
    votes = []
    for member in brigade:
        for post in recent:
            at = max(start, post.first_seen) + timedelta(hours=rng.uniform(0, 48))
            votes.append(_vote(member, post, -1, min(at, now - timedelta(minutes=5))))
    return votes


def backfill_history(now: datetime | None = None, days: int = HISTORY_DAYS) -> int:
    """Snapshot each past day from the votes cast before its end, scored as of that moment."""
    now = now or timezone.now()
    votes = rep_data.load_votes()
    engine = get_engine()
    today = now.date()
    rows = []
    for back in range(1, days + 1):
        day = today - timedelta(days=back)
        cutoff = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo).timestamp()
        mask = votes.created < cutoff
        if not mask.any():
            continue
        voter_ids = np.unique(votes.voter[mask])
        subset = dataclasses.replace(
            votes, voter=votes.voter[mask], author=votes.author[mask], post=votes.post[mask],
            value=votes.value[mask], created=votes.created[mask], voter_ids=voter_ids,
            voter_joined=votes.voter_joined[np.searchsorted(votes.voter_ids, voter_ids)],
        )
        _, scores = engine.fit(subset, cutoff)
        rows += [
            ReputationSnapshot(author_id=int(a), day=day, score=float(s), low=float(lo), high=float(hi),
                               votes=int(u + d), note="backfilled by seed_demo")
            for a, s, lo, hi, u, d in zip(scores.author_ids, scores.score, scores.low, scores.high,
                                          scores.upvotes, scores.downvotes)
        ]
    ReputationSnapshot.objects.bulk_create(
        rows, batch_size=2000, update_conflicts=True, unique_fields=["author", "day"],
        update_fields=["score", "low", "high", "votes", "note"],
    )
    return len(rows)


def seed(now: datetime | None = None) -> World:
    """Build the world, run the full recompute (today's scores), then backfill history."""
    now = now or timezone.now()
    world = build(now)
    recompute_all()
    world.snapshots = backfill_history(now)
    return world
