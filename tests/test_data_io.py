"""Bulk I/O of the refit: what is loaded is exactly the votes table; what is written is exactly the engine's output.

Runs on whatever DATABASE_URL names: on PostgreSQL it covers the binary COPY paths,
on SQLite the cursor / bulk_create paths.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.db import connection, transaction
from django.utils import timezone

from reputation import bulk, data, data_write
from reputation import services as rep_services
from reputation.engine import get_engine
from reputation.models import (
    AuthorReputation,
    PostScore,
    ReputationSnapshot,
    VoterCredibility,
)
from tests.conftest import make_user
from votes import services
from votes.models import Vote

pytestmark = pytest.mark.django_db
NOW = 1_790_000_000.0  # a fixed "now" (2026-09-21) so two refits compute the same numbers
UTC = dt.UTC


def _world():
    """Three authors (one owned by a voter), twelve voters of different ages, mixed votes."""
    posts = [services.post_register(url=f"https://x.com/{h}/status/{i}") for i, h in enumerate(["ann", "ann", "bo", "cy"], 1)]
    voters = [make_user(f"w{i}", days_old=2 + 40 * i) for i in range(12)]
    services.author_link(user=voters[0], platform="x", handle="cy")
    for i, voter in enumerate(voters):
        for j, post in enumerate(posts):
            if (i + j) % 3 and not (i == 0 and post.author.handle == "cy"):
                services.vote_cast(voter=voter, post=post, value=1 if (i * j) % 4 else -1)
    # Distinct, microsecond-precise vote times.
    for k, vote in enumerate(Vote.objects.order_by("id")):
        Vote.objects.filter(pk=vote.pk).update(created_at=dt.datetime(2025, 3, 1, 12, 0, k, 123456 + k, tzinfo=UTC))
    return posts, voters


def _epoch(t: dt.datetime) -> float:
    return t.timestamp()


def test_it_loads_exactly_the_votes_in_the_table():
    _world()
    loaded = data.load_votes()

    expected = sorted(
        (v.voter_id, v.author_id, v.post_id, v.value, _epoch(v.created_at)) for v in Vote.objects.all()
    )
    got = sorted(zip(loaded.voter.tolist(), loaded.author.tolist(), loaded.post.tolist(), loaded.value.tolist(), loaded.created.tolist()))
    assert [g[:4] for g in got] == [e[:4] for e in expected]
    assert np.allclose([g[4] for g in got], [e[4] for e in expected], rtol=0, atol=1e-6 if data.is_postgres() else 1e-3)
    assert loaded.value.dtype == np.int8 and loaded.voter.dtype == np.int64 and loaded.created.dtype == np.float64

    voter_ids = sorted({e[0] for e in expected})
    assert loaded.voter_ids.tolist() == voter_ids
    from django.contrib.auth import get_user_model

    joined = {u.pk: _epoch(u.date_joined) for u in get_user_model().objects.filter(pk__in=voter_ids)}
    assert np.allclose(loaded.voter_joined, [joined[v] for v in voter_ids], rtol=0, atol=1e-3)


def test_it_loads_the_owners_of_claimed_authors():
    posts, voters = _world()
    loaded = data.load_votes()
    assert list(zip(loaded.owned_author.tolist(), loaded.owner_voter.tolist())) == [(posts[3].author_id, voters[0].pk)]


def test_it_loads_one_author_with_the_credibility_of_its_voters_and_owner():
    posts, voters = _world()
    rep_services.recompute_all(now=NOW)
    author_id = posts[3].author_id

    votes, cred = data.load_author(author_id)

    stored = Vote.objects.filter(author_id=author_id)
    assert len(votes) == stored.count() and set(votes.author.tolist()) == {author_id}
    assert sorted(votes.post.tolist()) == sorted(stored.values_list("post_id", flat=True))
    assert votes.owned_author.tolist() == [author_id] and votes.owner_voter.tolist() == [voters[0].pk]
    wanted = set(stored.values_list("voter_id", flat=True)) | {voters[0].pk}
    rows = {c.voter_id: c for c in VoterCredibility.objects.filter(voter_id__in=wanted)}
    assert cred.voter_ids.tolist() == sorted(rows)
    assert cred.credibility.tolist() == [rows[v].credibility for v in sorted(rows)]
    assert [cred.flags(i) for i in range(len(cred.voter_ids))] == [rows[v].flags for v in sorted(rows)]


def test_it_loads_which_votes_were_solicited_on_every_path():
    posts, _ = _world()
    author_id = posts[0].author_id
    every_fourth = list(Vote.objects.order_by("pk").values_list("pk", flat=True))[::4]
    Vote.objects.filter(pk__in=every_fourth).update(solicited=True)
    stored = {(v.voter_id, v.post_id): v.solicited for v in Vote.objects.all()}
    assert any(stored.values()) and not all(stored.values())

    def flags(loaded):
        assert loaded.solicited.dtype == bool and len(loaded.solicited) == len(loaded)
        return dict(zip(zip(loaded.voter.tolist(), loaded.post.tolist()), loaded.solicited.tolist()))

    assert flags(data.load_votes()) == stored
    one = {k: v for k, v in stored.items() if k[1] in {p.pk for p in posts if p.author_id == author_id}}
    assert flags(data.load_votes(author_id)) == one
    rep_services.recompute_all(now=NOW)
    assert flags(data.load_author(author_id)[0]) == one


def test_the_refit_writes_back_exactly_what_the_engine_computed():
    _world()
    votes = data.load_votes()
    cred, scores = get_engine().fit(votes, NOW)

    rep_services.recompute_all(now=NOW)

    stored_cred = {c.voter_id: c for c in VoterCredibility.objects.all()}
    assert sorted(stored_cred) == cred.voter_ids.tolist()
    for i, voter_id in enumerate(cred.voter_ids.tolist()):
        assert stored_cred[voter_id].credibility == cred.credibility[i]
        assert stored_cred[voter_id].flags == cred.flags(i)

    reps = {r.author_id: r for r in AuthorReputation.objects.all()}
    assert sorted(reps) == scores.author_ids.tolist()
    for i, author_id in enumerate(scores.author_ids.tolist()):
        rep = reps[author_id]
        assert (rep.score, rep.low, rep.high) == (scores.score[i], scores.low[i], scores.high[i])
        assert (rep.upvotes, rep.downvotes, rep.voters) == (scores.upvotes[i], scores.downvotes[i], scores.voters[i])
        assert (rep.effective_voters, rep.weight_up, rep.weight_down) == (
            scores.effective_voters[i], scores.weight_up[i], scores.weight_down[i]
        )
        assert rep.status == scores.status[i] and rep.explanation == scores.explanations[i]
        assert rep.algorithm == get_engine().name and rep.updated_at is not None
    ranked = [r for r in reps.values() if r.status != "insufficient_data"]
    assert all(r.percentile is None for r in reps.values() if r.status == "insufficient_data")
    if ranked:
        order = sorted(ranked, key=lambda r: r.score)
        assert order[-1].percentile == 100.0 and (len(order) == 1 or order[0].percentile == 0.0)

    stored_posts = {p.post_id: p for p in PostScore.objects.all()}
    assert sorted(stored_posts) == scores.post_ids.tolist()
    for i, post_id in enumerate(scores.post_ids.tolist()):
        p = stored_posts[post_id]
        assert (p.quality, p.upvotes, p.downvotes) == (scores.post_quality[i], scores.post_upvotes[i], scores.post_downvotes[i])

    today = timezone.now().date()
    snaps = {s.author_id: s for s in ReputationSnapshot.objects.filter(day=today)}
    assert sorted(snaps) == scores.author_ids.tolist()
    for i, author_id in enumerate(scores.author_ids.tolist()):
        s = snaps[author_id]
        assert (s.score, s.low, s.high, s.votes) == (
            scores.score[i], scores.low[i], scores.high[i], scores.upvotes[i] + scores.downvotes[i]
        )


def _rows():
    return (
        list(AuthorReputation.objects.order_by("author_id").values_list(
            "author_id", "score", "low", "high", "upvotes", "downvotes", "voters", "effective_voters",
            "weight_up", "weight_down", "status", "percentile", "explanation", "algorithm")),
        list(VoterCredibility.objects.order_by("voter_id").values_list("voter_id", "credibility", "flags")),
        list(PostScore.objects.order_by("post_id").values_list("post_id", "quality", "upvotes", "downvotes")),
        list(ReputationSnapshot.objects.order_by("author_id", "day").values_list("author_id", "day", "score", "low", "high", "votes", "note")),
    )


def test_running_the_refit_twice_gives_the_same_rows():
    _world()
    rep_services.recompute_all(now=NOW)
    first = _rows()
    rep_services.recompute_all(now=NOW)
    assert _rows() == first
    assert ReputationSnapshot.objects.count() == AuthorReputation.objects.count()  # one per author and day


def test_an_author_whose_votes_were_all_retracted_is_reset_and_loses_its_post_scores(alice, bob, post):
    other = services.post_register(url="https://x.com/other/status/5")
    for voter in (alice, bob):
        services.vote_cast(voter=voter, post=post, value=1)
        services.vote_cast(voter=voter, post=other, value=-1)
    rep_services.recompute_all(now=NOW)
    for voter in (alice, bob):
        services.vote_retract(voter=voter, post=post)

    rep_services.recompute_all(now=NOW)

    rep = AuthorReputation.objects.get(author=post.author)
    assert (rep.score, rep.low, rep.high) == (50.0, 0.0, 100.0)
    assert (rep.upvotes, rep.downvotes, rep.voters, rep.effective_voters, rep.weight_up, rep.weight_down) == (0, 0, 0, 0.0, 0.0, 0.0)
    assert (rep.status, rep.percentile, rep.explanation, rep.algorithm) == ("insufficient_data", None, {}, get_engine().name)
    assert list(PostScore.objects.values_list("post_id", flat=True)) == [other.pk]
    assert AuthorReputation.objects.get(author=other.author).downvotes == 2


def test_a_snapshot_taken_earlier_the_same_day_is_replaced_not_duplicated(alice, post):
    services.vote_cast(voter=alice, post=post, value=1)
    today = timezone.now().date()
    ReputationSnapshot.objects.create(author=post.author, day=today, score=1.0, low=0.0, high=2.0, votes=9, note="kept")
    ReputationSnapshot.objects.create(author=post.author, day=today - dt.timedelta(days=1), score=1.0, low=0.0, high=2.0, votes=9)

    rep_services.recompute_all(now=NOW)

    snap = ReputationSnapshot.objects.get(author=post.author, day=today)
    rep = AuthorReputation.objects.get(author=post.author)
    assert (snap.score, snap.votes, snap.note) == (rep.score, 1, "kept")
    assert ReputationSnapshot.objects.filter(author=post.author).count() == 2


def test_the_refit_reports_progress_for_every_stage(alice, post):
    services.vote_cast(voter=alice, post=post, value=1)
    seen = []
    rep_services.recompute_all(now=NOW, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert [s for s, _, _ in seen] == ["load", "credibility", "authors", "posts", "snapshots"]
    assert all(done == total for _, done, total in seen)


def test_binary_copy_encoding_round_trips_every_column_kind():
    times = np.array([0.0, 946684800.0, 1_790_000_000.123456, -86400.5])
    cols = [
        ("int8", np.array([1, -2, 2**40, 0])),
        ("int4", np.array([7, -7, 2**30, 0])),
        ("int2", np.array([1, -1, 300, 0])),
        ("float8", np.array([0.1, -1e300, np.pi, 0.0])),
        ("timestamptz", times),
        ("date", np.array([0, 10957, 20000, -1])),
        ("text0", None),
    ]
    decoded = bulk.decode(bulk.encode(cols), [k for k, _ in cols])
    for (kind, values), back in zip(cols[:-1], decoded[:-1]):
        if kind == "timestamptz":
            assert np.allclose(back, values, rtol=0, atol=1e-6)
        else:
            assert back.tolist() == values.tolist()


def test_binary_copy_refuses_rows_that_are_not_fixed_width():
    payload = bulk.encode([("int8", np.array([1, 2]))])
    with pytest.raises(ValueError):
        bulk.decode(payload[:-3] + payload[-2:], ["int8"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's")
def test_bytea_values_come_back_by_binary_copy_as_they_were_stored():
    blobs = [b"", bytes(range(256)) * 40, b"\\x00:'\"\n"]
    with connection.cursor() as c:
        c.execute("CREATE TEMPORARY TABLE blobs (i int, b bytea)")
        for i, blob in enumerate(blobs):
            c.execute("INSERT INTO blobs VALUES (%s, %s)", [i, blob])
        cur = bulk.raw_cursor(c)
        assert bulk.copy_out_bytea(cur, "SELECT b FROM blobs ORDER BY i") == blobs
        assert bulk.copy_out_bytea(cur, "SELECT b FROM blobs WHERE i = %s", [1]) == [blobs[1]]
        assert bulk.copy_out_bytea(cur, "SELECT b FROM blobs WHERE i < 0") == []


@pytest.mark.django_db(transaction=True)
def test_the_many_connection_paths_read_and_write_the_same_as_one(monkeypatch):
    """Outside a transaction a refit writes each partition's scores on two connections of its own (and a
    large one reads the votes on two); inside a caller's transaction everything goes on its connection."""
    import psycopg2

    from reputation.models import AuthorVoterState

    def packed():
        return {a: bytes(b) for a, b in AuthorVoterState.objects.values_list("author_id", "data")}

    monkeypatch.setattr(rep_services, "PACK_MIN_VOTERS", 0)  # every author's voters packed
    _world()
    serial = data.load_votes()
    with transaction.atomic():
        rep_services.recompute_all(now=NOW)
    expected, expected_packed = _rows(), packed()
    if data.is_postgres():  # (elsewhere the refresh reads every voter from the tables)
        assert len(expected_packed) == AuthorReputation.objects.filter(voters__gt=0).count() > 0
    PostScore.objects.all().delete()
    AuthorReputation.objects.all().delete()
    ReputationSnapshot.objects.all().delete()
    monkeypatch.setattr(data, "PARALLEL_MIN_VOTES", -1)  # reltuples is -1 before the first ANALYZE
    opened = []
    real_connect = psycopg2.connect
    monkeypatch.setattr(psycopg2, "connect", lambda *a, **k: opened.append(1) or real_connect(*a, **k))

    parallel = data.load_votes()
    rep_services.recompute_all(now=NOW)

    # Two parallel loads on two connections each; the refit's one partition writes on two of its own,
    # and the credibilities go on one more meanwhile.
    assert len(opened) == (7 if data.is_postgres() else 0)

    def rows(v):
        return sorted(zip(v.voter.tolist(), v.post.tolist(), v.author.tolist(), v.value.tolist(), v.created.tolist(),
                          v.solicited.tolist()))

    assert rows(parallel) == rows(serial) and parallel.voter_joined.tolist() == serial.voter_joined.tolist()
    assert _rows() == expected and packed() == expected_packed


@pytest.mark.django_db(transaction=True)
def test_a_refit_in_partitions_resets_the_authors_and_posts_left_without_votes(alice, bob, post):
    services.vote_cast(voter=alice, post=post, value=1)
    other = services.post_register(url="https://x.com/other/status/77")
    services.vote_cast(voter=bob, post=other, value=1)
    rep_services.recompute_all(now=NOW)
    assert PostScore.objects.filter(post=post).exists()
    services.vote_retract(voter=alice, post=post)
    rep_services.recompute_all(now=NOW)

    gone = AuthorReputation.objects.get(author=post.author)
    assert (gone.voters, gone.status, gone.percentile) == (0, "insufficient_data", None)
    assert not PostScore.objects.filter(post=post).exists()
    assert PostScore.objects.filter(post=other).exists()
    assert AuthorReputation.objects.get(author=other.author).voters == 1


def test_an_author_voted_on_during_the_refit_is_marked_and_enqueued_again(alice, bob, post, monkeypatch):
    from reputation.models import PendingRefresh

    services.vote_cast(voter=alice, post=post, value=1)
    engine_class = type(get_engine())
    real_fit = engine_class.fit

    def fit_while_a_vote_arrives(self, votes, now, executor=None, **options):
        services.vote_cast(voter=bob, post=post, value=-1)
        PendingRefresh.objects.all().delete()  # as if that vote's own refresh already ran
        return real_fit(self, votes, now, executor, **options)

    monkeypatch.setattr(engine_class, "fit", fit_while_a_vote_arrives)
    enqueued = []
    monkeypatch.setattr(rep_services, "refresh_enqueue", lambda author_id, countdown=None: enqueued.append(author_id))

    rep_services.recompute_all(now=NOW)

    assert list(PendingRefresh.objects.values_list("author_id", flat=True)) == [post.author_id]
    assert enqueued == [post.author_id]


def test_votes_load_ordered_by_voter_then_author():
    """The engine runs about twice as fast over voter-ordered votes; the order must hold on every path."""
    _world()
    loaded = data.load_votes()
    keys = list(zip(loaded.voter.tolist(), loaded.author.tolist()))
    assert keys == sorted(keys)


def test_the_voter_order_is_the_same_with_packed_keys_and_without():
    rng = np.random.default_rng(1)
    voter, author, row = rng.integers(1, 50, 1000), rng.integers(1, 20, 1000), np.arange(1000)
    order = np.lexsort((author, voter))  # stable: ties keep the table order
    packed = data._by_voter(voter, author, row)
    unpacked = data._by_voter(voter + 2**50, author, row)  # too wide to pack: the lexsort path
    assert [c.tolist() for c in packed] == [voter[order].tolist(), author[order].tolist(), row[order].tolist()]
    assert [c.tolist() for c in unpacked] == [(voter[order] + 2**50).tolist(), author[order].tolist(), row[order].tolist()]


def test_explanations_with_escapes_survive_the_copy_write():
    if not data.is_postgres():
        pytest.skip("the COPY write-back is PostgreSQL's")
    _world()
    _, scores = get_engine().fit(data.load_votes(), NOW)
    tricky = {"note": 'back\\slash "quoted"\ttab\nnewline \\N é ☃', "nested": {"x": [1.5, None, "\\t"]}}
    scores.explanations[0] = tricky
    ranks = rep_services._percentiles(scores)
    data_write.write_reputations(scores, ranks, "x", timezone.now(), {"score": 50.0})
    assert AuthorReputation.objects.get(author_id=int(scores.author_ids[0])).explanation == tricky
    assert AuthorReputation.objects.get(author_id=int(scores.author_ids[1])).explanation == scores.explanations[1]


@pytest.mark.django_db(False)
def test_the_refresh_takes_the_refits_group_links_among_its_voters():
    """The refresh slices the refit's links (sorted once per process) instead of scanning them: exactly the
    pairs with both voters among the author's, and the block members among them, each once."""
    from reputation.engine.types import GroupLinks

    rng = np.random.default_rng(5)
    links = GroupLinks(rng.integers(0, 60, 400), rng.integers(0, 60, 400), rng.integers(0, 60, 90), rng.integers(0, 9, 90))
    state = data.refit_lookup({**{f"link_{k}": getattr(links, k) for k in GroupLinks.ARRAYS},
                               "ranked_scores": np.zeros(0)})
    stored = GroupLinks(*(state[f"link_{k}"] for k in GroupLinks.ARRAYS))

    for voters in (np.unique(rng.integers(0, 60, 15)), np.empty(0, np.int64), np.arange(60), np.array([61, 70])):
        got = stored.among(voters)
        mine = set(voters.tolist())
        pairs = sorted((u, v) for u, v in zip(links.edge_u.tolist(), links.edge_v.tolist()) if u in mine and v in mine)
        members = sorted((m, b) for m, b in zip(links.member.tolist(), links.member_block.tolist()) if m in mine)
        assert sorted(zip(got.edge_u.tolist(), got.edge_v.tolist())) == pairs
        assert sorted(zip(got.member.tolist(), got.member_block.tolist())) == members
    assert len(stored.among(np.arange(60)).edge_u) == 400  # all of them, each once


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the partitioned write-back (staging tables) is PostgreSQL's")
def test_a_refit_drops_the_staging_tables_a_killed_refit_left_and_no_live_refits():
    """Staging tables are unlogged and big (a 100M-vote refit stages 10M posts): one whose refit's server process
    is gone is dropped by the next refit; one whose process lives (a refit running now) is left alone."""
    from reputation import refit_write

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid() || ' ' || backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        (live,) = cur.fetchone()
        for name, owner in (("refit_deadbeef0000_rep", "999999 2026-01-01 00:00:00+00"), ("refit_a11ve0000000_rep", live)):
            cur.execute(f"CREATE UNLOGGED TABLE {name} (x int)")
            cur.execute(f"COMMENT ON TABLE {name} IS %s", [owner])
        with refit_write.staging_tables() as tables:
            cur.execute("SELECT relname FROM pg_class WHERE relname LIKE 'refit%%' AND relkind = 'r'")
            names = {r[0] for r in cur.fetchall()}
        assert "refit_deadbeef0000_rep" not in names and "refit_a11ve0000000_rep" in names
        assert set(tables.values()) <= names
