"""One engine, two executions: the full refit on a Dask cluster (real worker processes) gives the
in-process refit's numbers, on clean, attacked and polarized worlds, and through the product's command."""

from __future__ import annotations

import dataclasses
import functools
import io
import os

import numpy as np
import pytest
from distributed import Client, LocalCluster
from django.db import connection

from bench.engine import attacks, sim, sim2
from bench.engine.world import NOW
from reputation import refit_backend
from reputation.data import pack_voters
from reputation.engine import get_engine, groups
from reputation.engine.execution import OnDask, split_by_author
from reputation.models import AuthorReputation, PostScore, ReputationSnapshot, VoterCredibility
from reputation.refit_backend import NO_DASHBOARD


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs=NO_DASHBOARD) as cluster, \
            Client(cluster) as c:
        assert len(c.scheduler_info()["workers"]) == 2
        yield c


@functools.cache
def _worlds():
    clean = sim.make_world("clean", 3, "small")
    return {
        "clean": clean,
        "thin_aged": attacks.thin_aged(clean, np.random.default_rng(1)),
        "framing": attacks.framing(clean, np.random.default_rng(2)),
        "polarized": sim.make_world("polarized", 3, "small"),
        "sim2 bought": attacks.bought(sim2.honest_world(4, "small"), np.random.default_rng(3)),
        "ring": attacks.ring(clean, np.random.default_rng(4)),  # dense blocks: the block pass's members
    }


@pytest.mark.parametrize("name", list(_worlds()))
def test_the_refit_on_dask_gives_the_in_process_numbers(client, name):
    data = _worlds()[name].data
    local_cred, local = get_engine().fit(data, NOW)
    cred, scores = get_engine().fit(data, NOW, executor=OnDask(client, data, 5))

    np.testing.assert_array_equal(scores.author_ids, local.author_ids)
    for field in ("score", "low", "high", "effective_voters", "weight_up", "weight_down"):
        np.testing.assert_allclose(getattr(scores, field), getattr(local, field), rtol=0, atol=1e-6, err_msg=field)
    np.testing.assert_array_equal(scores.status, local.status)
    np.testing.assert_array_equal(scores.post_ids, local.post_ids)
    np.testing.assert_allclose(scores.post_quality, local.post_quality, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(cred.voter_ids, local_cred.voter_ids)
    for field in ("credibility", "side", "proven"):
        np.testing.assert_allclose(getattr(cred, field), getattr(local_cred, field), rtol=0, atol=1e-6, err_msg=field)
    np.testing.assert_array_equal(cred.group, local_cred.group)
    np.testing.assert_array_equal(cred.changed, local_cred.changed)
    assert cred.dispersion == pytest.approx(local_cred.dispersion)


def test_group_detection_over_many_partitions_finds_the_groups_of_one():
    """Signatures, co-votes and block hits computed per partition of authors, in any order of the
    votes inside a partition, give the one-partition detection's labels, edges and block members."""
    data = attacks.group_overflow(sim.make_world("clean", 5, "small"), np.random.default_rng(1)).data
    ids = np.unique(data.voter)
    vpos = np.searchsorted(ids, data.voter)
    one = groups.detect_groups(vpos, data.post, data.author, data.value, len(ids), created=data.created,
                               return_edges=True)
    assert one[0].max() > 0 and len(one[1]) and one[3].shape[1]  # pair groups, and blocks with members
    rng = np.random.default_rng(0)
    parts = []
    for idx in split_by_author(data, 4)[1]:
        idx = rng.permutation(idx)
        parts.append(groups.partition(vpos[idx], data.post[idx], data.author[idx], data.value[idx], data.created[idx]))
    def run(step, *args):
        return [step(p, *args) for p in parts]

    def by_voter(split, fn, *args):  # tokens gathered per bucket of voters, as the executor's shuffle does
        pieces = [split(p, 3) for p in parts]
        return [fn(*args, *(p[b] for p in pieces)) for b in range(3)]

    for shuffle in (None, by_voter):  # None: every partition's tokens gathered in one place
        many = groups.detect(run, len(ids), timed=True, return_edges=True, by_voter=shuffle, **groups.settings())
        for a, b in zip(one, many):
            np.testing.assert_array_equal(a, b)


def test_partitions_hold_whole_authors_and_every_vote_once():
    data = sim.make_world("clean", 3, "small").data
    parts, index = split_by_author(data, 4)
    assert sorted(np.concatenate(index).tolist()) == list(range(len(data)))
    authors = [set(p.author.tolist()) for p in parts]
    assert all(not (a & b) for i, a in enumerate(authors) for b in authors[i + 1:])
    for p, idx in zip(parts, index):
        np.testing.assert_array_equal(p.voter, data.voter[idx])
        # Each partition carries its own voters' rows of the voter table, join times included.
        np.testing.assert_array_equal(p.voter_ids, np.unique(p.voter))
        np.testing.assert_array_equal(p.voter_joined, data.voter_joined[np.searchsorted(data.voter_ids, p.voter_ids)])


def _with_ids_near_the_int32_limit(data):
    """The same votes with voter, author and post ids just under 2**31: a 4-byte id times a count overflows."""
    big = 2**31 - 1_000_000
    return dataclasses.replace(data, voter=data.voter + big, author=data.author + big, post=data.post + big,
                               voter_ids=data.voter_ids + big, owned_author=data.owned_author + big,
                               owner_voter=data.owner_voter + big)


def test_partitions_keep_ids_in_four_bytes_and_widen_them_before_arithmetic(client):
    data = _with_ids_near_the_int32_limit(sim.make_world("ring", 3, "small").data)
    parts, _ = split_by_author(data, 3)
    assert {p.voter.dtype for p in parts} == {p.author.dtype for p in parts} == {np.dtype(np.int32)}
    local_cred, local = get_engine().fit(data, NOW)
    cred, scores = get_engine().fit(data, NOW, executor=OnDask(client, data, 3))
    np.testing.assert_array_equal(scores.author_ids, local.author_ids)
    assert scores.author_ids.dtype == np.int64 and scores.post_ids.dtype == np.int64
    np.testing.assert_allclose(scores.score, local.score, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(scores.status, local.status)
    np.testing.assert_allclose(cred.credibility, local_cred.credibility, rtol=0, atol=1e-6)
    # What the per-author refresh will read: the same packed voters per author from the 4-byte partitions.
    authors = np.unique(data.author)
    whole = dict(pack_voters(data, local_cred, authors))
    from_parts = dict(kv for p in parts for kv in pack_voters(p, local_cred, authors))
    assert from_parts.keys() == whole.keys() and all(from_parts[a] == whole[a] for a in whole)
    # Ids beyond 4 bytes stay as they are.
    wide = dataclasses.replace(data, author=data.author + 2**31)
    assert split_by_author(wide, 2)[0][0].author.dtype == np.int64


def _small_world(seed=5, n_voters=15, n_authors=6):
    from tests.conftest import make_user
    from votes import services

    rng = np.random.default_rng(seed)
    voters = [make_user(f"dv{i}", days_old=float(rng.uniform(10, 400))) for i in range(n_voters)]
    posts = [services.post_register(url=f"https://x.com/dask{a}/status/{1000 + 10 * a + k}")
             for a in range(n_authors) for k in range(2)]
    for voter in voters:
        for post in rng.choice(len(posts), 6, replace=False):
            services.vote_cast(voter=voter, post=posts[post], value=int(rng.choice([1, -1])))


on_postgres = pytest.mark.skipif("postgres" not in os.environ.get("DATABASE_URL", ""),
                                 reason="the workers read the votes from PostgreSQL")


@on_postgres
@pytest.mark.django_db(transaction=True)  # committed votes: the workers read them on their own connections
def test_the_workers_read_the_votes_into_the_partitions_split_by_author_would_make(client):
    from reputation import data, refit_backend

    _small_world(n_voters=40, n_authors=9)
    votes = data.load_votes()
    expected, _ = split_by_author(votes, 3)
    tables, ex, n_votes = refit_backend._load_on_workers(client, 3)
    try:
        assert n_votes == len(votes) and len(tables) == 0  # this process holds no vote
        np.testing.assert_array_equal(tables.voter_ids, votes.voter_ids)
        np.testing.assert_array_equal(tables.voter_joined, votes.voter_joined)
        loaded = [state["data"] for state in client.gather(ex.states)]
        assert [len(p) for p in loaded] == [len(p) for p in expected] and min(len(p) for p in loaded) > 0
        for got, want in zip(loaded, expected):
            for name in ("voter", "author", "post", "value", "created", "solicited", "voter_ids", "voter_joined",
                         "owned_author", "owner_voter"):
                np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    finally:
        ex.close()


@pytest.mark.django_db(transaction=True)
def test_recompute_reputation_on_a_local_dask_cluster_writes_what_the_local_refit_writes(settings, monkeypatch):
    from django.core.management import call_command

    from reputation import data

    _small_world()

    def snapshot():
        reps = list(AuthorReputation.objects.order_by("author_id").values_list("author_id", "score", "low", "high", "status"))
        creds = list(VoterCredibility.objects.order_by("voter_id").values_list("voter_id", "credibility"))
        return reps, creds

    def written_where_the_partitions_are():  # on PostgreSQL, by each partition's own connections
        ranks = list(AuthorReputation.objects.order_by("author_id").values_list("author_id", "percentile", "voters"))
        posts = list(PostScore.objects.order_by("post_id").values_list("post_id", "quality", "upvotes", "downvotes"))
        days = list(ReputationSnapshot.objects.order_by("author_id").values_list("author_id", "day", "votes"))
        return ranks, [p[0] for p in posts], [p[2:] for p in posts], np.array([p[1] for p in posts]), days

    call_command("recompute_reputation", stdout=io.StringIO(), stderr=io.StringIO())
    local = snapshot()
    local_rows = written_where_the_partitions_are()
    PostScore.objects.all().delete()
    ReputationSnapshot.objects.all().delete()
    out = io.StringIO()
    loads = []
    monkeypatch.setattr(data, "load_votes", lambda *a, _load=data.load_votes: loads.append(a) or _load(*a))
    call_command("recompute_reputation", "--backend", "dask", "--workers", "2", stdout=out, stderr=io.StringIO())
    assert len(loads) == (0 if data.is_postgres() else 1)  # on PostgreSQL the workers read the votes
    assert "Recomputed 6 authors" in out.getvalue()
    reps, creds = snapshot()
    assert [r[0] for r in reps] == [r[0] for r in local[0]] and [r[4] for r in reps] == [r[4] for r in local[0]]
    np.testing.assert_allclose([r[1:4] for r in reps], [r[1:4] for r in local[0]], atol=1e-6)
    np.testing.assert_allclose([c[1] for c in creds], [c[1] for c in local[1]], atol=1e-6)
    ranks, post_ids, counts, quality, days = written_where_the_partitions_are()
    assert (ranks, post_ids, counts, days) == (local_rows[0], local_rows[1], local_rows[2], local_rows[4])
    assert len(post_ids) and len(days) == len(reps)
    np.testing.assert_allclose(quality, local_rows[3], atol=1e-6)


def test_an_unknown_backend_is_refused_in_plain_words(settings):
    from reputation import refit_backend

    settings.REFIT_BACKEND = "spark"
    with pytest.raises(ValueError, match="Unknown refit backend 'spark'"), \
            refit_backend.executor(sim.make_world("clean", 3, "small").data):
        pass


def test_a_misnamed_backend_fails_the_system_check(settings):
    from reputation.refit_backend import check_settings

    settings.REFIT_BACKEND = "dsak"
    assert [e.id for e in check_settings()] == ["reputation.E001"]
    settings.REFIT_BACKEND = "dask"
    assert check_settings() == []


def test_inside_a_daemonic_process_the_local_cluster_is_threads(settings, monkeypatch):
    """A Celery prefork child may not start processes: the refit's LocalCluster runs in threads there."""
    from types import SimpleNamespace

    from reputation import refit_backend

    monkeypatch.setattr(refit_backend.multiprocessing, "current_process", lambda: SimpleNamespace(daemon=True))
    settings.DASK_SCHEDULER_ADDRESS = ""
    data = _worlds()["clean"].data
    _, local = get_engine().fit(data, NOW)
    with refit_backend.executor(data, "dask", workers=2) as ex:
        assert ex.client.cluster.processes is False and len(ex.client.scheduler_info()["workers"]) == 2
        _, scores = get_engine().fit(data, NOW, executor=ex)
    np.testing.assert_allclose(scores.score, local.score, rtol=0, atol=1e-6)


def test_partitions_grow_with_the_votes_so_one_stays_within_a_worker(settings):
    """Two per worker, and more once a partition would hold over DASK_PARTITION_VOTES votes."""
    class TwoWorkers:
        def scheduler_info(self):
            return {"workers": {"a": {}, "b": {}}}

    settings.DASK_PARTITIONS, settings.DASK_PARTITION_VOTES = 0, 10
    assert refit_backend._partitions(TwoWorkers(), 5) == 4
    assert refit_backend._partitions(TwoWorkers(), 95) == 10
    settings.DASK_PARTITIONS = 3
    assert refit_backend._partitions(TwoWorkers(), 95) == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the workers connect themselves only to PostgreSQL")
@pytest.mark.django_db
def test_the_database_password_never_travels_in_a_task_and_the_refits_own_workers_still_have_it(settings):
    """Task arguments pass through the scheduler (kept there, shown on its dashboard): the workers' libpq reads
    the password from a file only this user can read, which lives as long as the cluster."""
    from django.db import connections

    from reputation import data

    def pgpass_as_a_worker_sees_it() -> tuple[str, str, str]:  # (nested: sent by value, not imported there)
        path = os.environ["PGPASSFILE"]
        with open(path) as f:
            return path, f.read(), oct(os.stat(path).st_mode & 0o777)

    conn = connections["default"]
    saved = conn.settings_dict.get("PASSWORD")
    conn.settings_dict["PASSWORD"] = "s3cr:et"  # ignored by a server that trusts this host
    try:
        assert "password" not in data.worker_params() and data.worker_params(password=True)["password"] == "s3cr:et"
        settings.DASK_SCHEDULER_ADDRESS = ""
        with refit_backend.cluster("dask", workers=2) as client:
            seen = client.run(pgpass_as_a_worker_sees_it)
            (path, text, mode), = set(seen.values())  # every worker, the same file
        assert len(seen) == 2 and mode == "0o600"
        assert text.rstrip("\n").endswith(":s3cr\\:et")  # pgpass escapes the colon
        assert not os.path.exists(path)  # gone with the cluster
    finally:
        conn.settings_dict["PASSWORD"] = saved
