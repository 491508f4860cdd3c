"""The full refit rebuilds every aggregate from the votes table."""

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.db import connection

from reputation import data, data_write
from reputation import services as rep_services
from reputation.models import (
    AuthorReputation,
    AuthorVoterState,
    PostScore,
    RefitState,
    RefitStatePart,
    ReputationSnapshot,
    VoterCredibility,
)
from tests.conftest import make_user
from votes import services

pytestmark = pytest.mark.django_db


def test_recompute_all_rebuilds_reputation_credibility_posts_and_a_snapshot():
    good = services.post_register(url="https://x.com/good/status/1")
    poor = services.post_register(url="https://x.com/poor/status/2")
    for i in range(8):
        voter = make_user(f"v{i}", days_old=300)
        services.vote_cast(voter=voter, post=good, value=1)
        services.vote_cast(voter=voter, post=poor, value=-1, reason="low_effort")
    AuthorReputation.objects.all().delete()

    result = rep_services.recompute_all()

    assert result["votes"] == 16 and result["authors"] == 2 and result["voters"] == 8
    good_rep = AuthorReputation.objects.get(author=good.author)
    poor_rep = AuthorReputation.objects.get(author=poor.author)
    assert good_rep.upvotes == 8 and poor_rep.downvotes == 8
    assert good_rep.score > 50 > poor_rep.score
    assert good_rep.percentile == 100.0 and poor_rep.percentile == 0.0
    assert VoterCredibility.objects.count() == 8
    assert all(0 < c <= 1 for c in VoterCredibility.objects.values_list("credibility", flat=True))
    assert PostScore.objects.get(post=good).quality > PostScore.objects.get(post=poor).quality
    assert ReputationSnapshot.objects.filter(author=good.author).count() == 1


def test_an_author_whose_votes_were_all_retracted_returns_to_no_data(alice, post):
    services.vote_cast(voter=alice, post=post, value=1)
    rep_services.recompute_all()
    services.vote_retract(voter=alice, post=post)
    rep_services.recompute_all()
    rep = AuthorReputation.objects.get(author=post.author)
    assert (rep.upvotes, rep.voters, rep.status, rep.score) == (0, 0, "insufficient_data", 50.0)
    assert not PostScore.objects.exists()


def _ranked_world():
    """Five authors with different up-shares, voted on by twelve established voters."""
    posts = [services.post_register(url=f"https://x.com/rank{a}/status/{a}") for a in range(5)]
    for i in range(12):
        voter = make_user(f"r{i}", days_old=300)
        for a, post in enumerate(posts):
            services.vote_cast(voter=voter, post=post, value=1 if i < 3 + 2 * a else -1)
    return posts


def test_a_refresh_after_a_refit_gives_the_refits_numbers_and_percentile():
    posts = _ranked_world()
    rep_services.recompute_all()
    fields = ["score", "low", "high", "effective_voters", "status", "percentile", "explanation"]
    refit = {r["author_id"]: r for r in AuthorReputation.objects.values("author_id", *fields)}
    refit_posts = list(PostScore.objects.order_by("post_id").values_list("post_id", "quality", "upvotes", "downvotes"))
    # Two of the five score the same (to 1e-13) and share a rank.
    assert sorted(r["percentile"] for r in refit.values()) == [0.0, 25.0, 50.0, 50.0, 100.0]

    for post in posts:
        rep_services.author_refresh(author_id=post.author_id)
    refreshed = {r["author_id"]: r for r in AuthorReputation.objects.values("author_id", *fields)}
    assert refreshed == refit
    # Exactly: the refresh's post scores travel as text, the refit's as binary floats.
    assert list(PostScore.objects.order_by("post_id").values_list("post_id", "quality", "upvotes", "downvotes")) == refit_posts


@pytest.mark.parametrize("pack_min_voters", [0, 1000], ids=["every-author-packed", "none-packed"])
def test_the_refresh_reads_the_same_from_the_refits_state_as_from_the_tables(monkeypatch, pack_min_voters):
    monkeypatch.setattr(rep_services, "PACK_MIN_VOTERS", pack_min_voters)
    posts = _ranked_world()
    rep_services.recompute_all()
    newcomer = make_user("newcomer", days_old=40)  # not in the refit's rows
    services.vote_cast(voter=newcomer, post=posts[0], value=1)
    services.vote_cast(voter=make_user("r_new", days_old=1), post=posts[2], value=-1)
    services.vote_retract(voter=User.objects.get(username="r0"), post=posts[3])  # packed, and gone since
    assert rep_services.refit_state() is not None
    packed = AuthorVoterState.objects.count()
    assert packed == (5 if connection.vendor == "postgresql" and pack_min_voters == 0 else 0)

    def refreshed():
        for post in posts:
            rep_services.author_refresh(author_id=post.author_id)
        return list(AuthorReputation.objects.order_by("author_id").values_list(
            "author_id", "score", "low", "high", "voters", "percentile", "explanation"))

    with_state = refreshed()
    RefitState.objects.all().delete()  # as before any refit: everything from the tables
    assert rep_services.refit_state() is None and not AuthorVoterState.objects.exists()
    without_state = refreshed()
    # Percentiles aside (without a refit they are counted from the table as it is now), the same numbers.
    assert [r[:5] + r[6:] for r in with_state] == [r[:5] + r[6:] for r in without_state]
    assert AuthorReputation.objects.get(author=posts[4].author).percentile == 100.0


def test_the_refit_state_grows_with_authors_not_with_voters(monkeypatch):
    """Every refreshing process reads the refit state whole: it holds per-author figures, never per-voter ones."""
    monkeypatch.setattr(rep_services, "PACK_MIN_VOTERS", 11)  # the authors voted on by all 12 voters
    _ranked_world()
    rep_services.recompute_all()
    state = rep_services.refit_state()
    assert {len(v) for k, v in state.items() if k.startswith("ranked_")} == {5}
    assert not {"voter_ids", "credibility", "group", "side"} & set(state)
    if connection.vendor == "postgresql":
        author_ids = set(AuthorReputation.objects.filter(voters__gt=11).values_list("author_id", flat=True))
        assert author_ids and set(AuthorVoterState.objects.values_list("author_id", flat=True)) == author_ids
        one = AuthorVoterState.objects.first()
        rows = np.frombuffer(bytes(one.data), data.VOTER_ROW)
        stored = dict(VoterCredibility.objects.values_list("voter_id", "credibility"))
        assert len(rows) == 12 and rows["credibility"].tolist() == [stored[v] for v in rows["id"].tolist()]


def test_a_refit_replaces_the_refit_state():
    _ranked_world()
    rep_services.recompute_all()
    first = RefitState.objects.get().token
    rep_services.recompute_all()
    assert RefitState.objects.get().token != first
    assert len(rep_services.refit_state()["ranked_ids"]) == 5


def test_a_refit_state_larger_than_one_part_is_stored_in_parts_and_read_back_whole(monkeypatch):
    """PostgreSQL holds at most 1 GB in one value; at 100M votes the refit's arrays are more than that."""
    _ranked_world()
    rep_services.recompute_all()
    whole = rep_services.refit_state()
    monkeypatch.setattr(rep_services, "STATE_PART_BYTES", 500)
    rep_services._state_cache.clear()
    rep_services.recompute_all()
    assert RefitStatePart.objects.filter(state=RefitState.objects.get()).count() > 3
    again = rep_services.refit_state()
    assert set(again) == set(whole)
    assert again["state_id"] != whole["state_id"]  # the key of the refit's packed voters
    for name in set(whole) - {"state_id"}:
        np.testing.assert_array_equal(again[name], whole[name])


def test_a_newly_detected_group_leaves_a_correction_in_the_authors_history():
    """The reversal pass: the day a refit sets aside a group's votes, the snapshot says so; later days don't."""
    from datetime import date
    from types import SimpleNamespace

    import numpy as np


    authors = [services.post_register(url=f"https://x.com/a{i}/status/{i}").author_id for i in range(3)]

    def snapshot(day, coordinated, ids=authors):
        n = len(ids)
        scores = SimpleNamespace(
            author_ids=np.array(ids), score=np.full(n, 60.0), low=np.full(n, 50.0), high=np.full(n, 70.0),
            upvotes=np.full(n, 15), downvotes=np.full(n, 5), coordinated_discount=np.array(coordinated, dtype=float),
        )
        rep_services._write_snapshots(scores, day)

    def notes(day):
        rows = ReputationSnapshot.objects.filter(day=day).order_by("author_id")
        return {r.author_id: r.note for r in rows}

    snapshot(date(2026, 11, 1), [0.0, 0.0], ids=authors[:2])  # the third author is new on day two
    snapshot(date(2026, 11, 2), [8.0, 0.5, 8.0])  # a group found behind a0 (b: below the threshold)
    snapshot(date(2026, 11, 3), [8.0, 0.5, 8.0])  # same group, nothing new

    assert notes(date(2026, 11, 1)) == {authors[0]: "", authors[1]: ""}
    assert notes(date(2026, 11, 2)) == {authors[0]: data_write.CORRECTION_NOTE, authors[1]: "", authors[2]: ""}
    assert set(notes(date(2026, 11, 3)).values()) == {""}


def test_a_refresh_widens_intervals_by_the_post_dispersion_the_refit_measured():
    """Each author's posts are all-up or all-down: the refit measures the world's post dispersion over
    every post and leaves it in its state, and a refresh (one author's votes only) uses it."""
    voters = [make_user(f"d{i}", days_old=300) for i in range(4)]
    posts = [services.post_register(url=f"https://x.com/disp{a}/status/{100 + 10 * a + k}") for a in range(20) for k in range(4)]
    for j, post in enumerate(posts):
        for voter in voters:
            services.vote_cast(voter=voter, post=post, value=1 if j % 2 == 0 else -1)
    rep_services.recompute_all()
    assert rep_services.refit_state()["dispersion"][0] > 1.5
    refit = {r["author_id"]: r for r in AuthorReputation.objects.values("author_id", "score", "low", "high")}

    for post in posts[::4]:
        rep_services.author_refresh(author_id=post.author_id)
    assert {r["author_id"]: r for r in AuthorReputation.objects.values("author_id", "score", "low", "high")} == refit
    rep_services.recompute_all(refit_credibility=False)
    assert {r["author_id"]: r for r in AuthorReputation.objects.values("author_id", "score", "low", "high")} == refit
