"""Incrementally maintained reputation equals a rebuild from the votes table, exactly."""

from __future__ import annotations

import random
import threading

import pytest
import time_machine
from django.db import connection

from reputation import services as rep_services
from reputation.models import AuthorReputation, PendingRefresh, PostScore
from tests.conftest import make_user
from votes import services
from votes.models import Post, Vote, VoteEvent

COMPARED = ["score", "low", "high", "upvotes", "downvotes", "voters", "effective_voters",
            "weight_up", "weight_down", "status", "explanation"]


def snapshot():
    reps = {r["author_id"]: r for r in AuthorReputation.objects.values("author_id", *COMPARED)}
    posts = dict(PostScore.objects.values_list("post_id", "quality"))
    return reps, posts


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_refreshes_agree_with_a_full_recompute(seed):
    rng = random.Random(seed)
    with time_machine.travel("2026-06-01 12:00:00Z", tick=False):
        voters = [make_user(f"u{seed}_{i}", days_old=rng.choice([1, 20, 90, 400])) for i in range(12)]
        posts = [
            services.post_register(url=f"https://x.com/author{rng.randrange(4)}/status/{1000 + i}") for i in range(10)
        ]
        rep_services.recompute_all()  # credibilities of the established world

        for _ in range(150):
            voter, post = rng.choice(voters), rng.choice(posts)
            action = rng.random()
            if action < 0.65:
                services.vote_cast(voter=voter, post=post, value=rng.choice([1, -1]))
            elif action < 0.85:
                services.vote_cast(voter=voter, post=post, value=-1, reason=rng.choice(["spam", "misleading"]))
            else:
                services.vote_retract(voter=voter, post=post)
            # What the worker does after each vote: refresh that author only.
            for author_id in PendingRefresh.objects.values_list("author_id", flat=True):
                rep_services.author_refresh(author_id=author_id)

        assert not PendingRefresh.objects.exists()  # every mark was cleared by its refresh
        incremental = snapshot()
        rep_services.recompute_all(refit_credibility=False)
        rebuilt = snapshot()

    # Counts, statuses and explanations match exactly; floats up to summation order (1e-9).
    (inc_reps, inc_posts), (full_reps, full_posts) = incremental, rebuilt
    assert inc_reps.keys() == full_reps.keys() and inc_posts.keys() == full_posts.keys()
    for author_id, full in full_reps.items():
        inc = inc_reps[author_id]
        for name in COMPARED:
            if isinstance(full[name], float):
                assert inc[name] == pytest.approx(full[name], rel=1e-9, abs=1e-9), (author_id, name)
            else:
                assert inc[name] == full[name], (author_id, name)
    assert inc_posts == pytest.approx(full_posts, rel=1e-9)
    counted = {
        a: (Vote.objects.filter(author_id=a, value=1).count(), Vote.objects.filter(author_id=a, value=-1).count())
        for a in rebuilt[0]
    }
    assert {a: (r["upvotes"], r["downvotes"]) for a, r in rebuilt[0].items()} == counted


@pytest.mark.django_db
def test_the_event_log_replays_to_the_current_votes(alice, bob, post):
    other = services.post_register(url="https://x.com/writer/status/99")
    services.vote_cast(voter=alice, post=post, value=1)
    services.vote_cast(voter=bob, post=post, value=-1, reason="spam")
    services.vote_cast(voter=alice, post=post, value=-1)
    services.vote_cast(voter=alice, post=other, value=1)
    services.vote_retract(voter=bob, post=post)

    state = {}
    for voter_id, post_id, value in VoteEvent.objects.order_by("id").values_list("voter_id", "post_id", "value"):
        state[(voter_id, post_id)] = value
    replayed = {k: v for k, v in state.items() if v}
    assert replayed == {(v.voter_id, v.post_id): v.value for v in Vote.objects.all()}


@pytest.mark.django_db(transaction=True)
def test_concurrent_flip_flopping_votes_leave_exactly_one_vote_each():
    post = services.post_register(url="https://x.com/writer/status/31337")
    voters = [make_user(f"flip{i}") for i in range(8)]
    errors: list[Exception] = []

    def flip(voter, seed):
        rng = random.Random(seed)
        try:
            for _ in range(15):
                post_ = Post.objects.select_related("author").get(pk=post.pk)
                if rng.random() < 0.2:
                    services.vote_retract(voter=voter, post=post_)
                else:
                    services.vote_cast(voter=voter, post=post_, value=rng.choice([1, -1]))
        except Exception as exc:  # noqa: BLE001 - surfaced below, whatever it is
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=flip, args=(voters[i % 8], i)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert Vote.objects.filter(post=post).count() <= 8
    # Replaying the log gives the final state: no change was lost or double-counted.
    state = {}
    for voter_id, value in VoteEvent.objects.filter(post=post).order_by("id").values_list("voter_id", "value"):
        state[voter_id] = value
    assert {k: v for k, v in state.items() if v} == dict(Vote.objects.filter(post=post).values_list("voter_id", "value"))
    rep_services.author_refresh(author_id=post.author_id)
    rep = AuthorReputation.objects.get(author_id=post.author_id)
    assert rep.upvotes == Vote.objects.filter(post=post, value=1).count()
    assert rep.downvotes == Vote.objects.filter(post=post, value=-1).count()
