"""Properties of the second benchmark world generator (bench/engine/sim2.py); no database."""

import numpy as np
import pytest
from scipy import stats

from bench.engine import sim2
from bench.engine.metrics import percentile
from bench.engine.world import DAY, NOW


@pytest.fixture(scope="module")
def worlds():
    return {sc: sim2.make_world(sc, 0, "small") for sc in ("clean", "noise", "polarized")}


def _plain_mean(w):
    A = len(w.truth)
    d = w.data
    return np.bincount(d.author, (d.value > 0).astype(float), A) / np.maximum(np.bincount(d.author, minlength=A), 1)


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = sim2.honest_world(3), sim2.honest_world(3), sim2.honest_world(4)
    for f in ("voter", "author", "post", "value", "created", "voter_joined"):
        assert np.array_equal(getattr(a.data, f), getattr(b.data, f))
    assert np.array_equal(a.truth, b.truth)
    assert len(a.data) != len(c.data) or not np.array_equal(a.data.value, c.data.value)


@pytest.mark.parametrize("scenario", ["clean", "noise", "polarized"])
def test_votes_are_consistent(worlds, scenario):
    w = worlds[scenario]
    d = w.data
    V = len(d.voter_ids)
    assert np.array_equal(d.voter_ids, np.arange(V)) and len(d.voter_joined) == V == len(w.attacker)
    assert set(np.unique(d.value)) == {-1, 1}
    assert (d.created > d.voter_joined[d.voter]).all()  # after the voter joined
    assert (d.created > w.post_created[d.post]).all()  # after the post appeared
    assert (d.created < NOW).all() and (w.post_created >= NOW - 180 * DAY).all()
    assert (w.post_author[d.post] == d.author).all()
    assert len(np.unique(d.voter * len(w.post_author) + d.post)) == len(d)  # one vote per (voter, post)
    assert np.array_equal(w.honest_votes, np.bincount(d.author[~w.attacker[d.voter]], minlength=len(w.truth)))
    assert len(w.followers) == len(w.truth) == 800 and len(w.post_popularity) == len(w.post_author)
    assert ((w.truth > 0) & (w.truth < 1)).all()


def test_activity_is_heavy_tailed_and_votes_are_fresh(worlds):
    w = worlds["clean"]
    d = w.data
    per_voter = np.bincount(d.voter, minlength=len(d.voter_ids))
    assert 20 <= per_voter.mean() <= 30
    assert np.median(per_voter) < 0.6 * per_voter.mean()
    assert np.percentile(per_voter, 99) > 10 * np.median(per_voter)
    assert (per_voter == 1).mean() > 0.03 and per_voter.min() >= 1
    age = d.created - w.post_created[d.post]
    assert 0.5 < (age < 2 * DAY).mean() < 0.8  # mostly fresh posts, with a tail of old ones
    assert (age > 14 * DAY).mean() > 0.02


def test_truth_spread_and_plain_mean_is_informative_not_perfect(worlds):
    w = worlds["clean"]
    E = w.honest_votes >= 5
    assert w.truth[E].std() > 0.15
    tau = stats.kendalltau(_plain_mean(w)[E], w.truth[E]).statistic
    assert 0.5 < tau < 0.85


def test_noise_world_is_the_clean_world_plus_random_voters(worlds):
    c, n = worlds["clean"], worlds["noise"]
    V0 = len(c.data.voter_ids)
    assert not c.attacker.any() and n.attacker[V0:].all() and not n.attacker[:V0].any()
    assert n.attacker.sum() == round(0.1 * V0) == n.budget_accounts
    assert np.array_equal(n.data.value[: len(c.data)], c.data.value) and np.array_equal(n.truth, c.truth)
    noise = n.data.value[len(c.data) :]
    assert abs((noise > 0).mean() - 0.5) < 0.05


def test_camps_unequal_and_the_larger_camp_lifted(worlds):
    c, p = worlds["clean"], worlds["polarized"]
    assert c.author_camp is None
    camp = p.author_camp
    assert set(np.unique(camp)) == {-1, 0, 1, 2}
    sizes = np.bincount(camp[camp >= 0])
    assert sizes[0] > sizes[1] > sizes[2]
    E = p.honest_votes >= 5
    lift = percentile(_plain_mean(p), E) - percentile(p.truth, E)
    assert lift[E & (camp == 0)].mean() > 2.5  # the plain mean favours the larger camp's authors
