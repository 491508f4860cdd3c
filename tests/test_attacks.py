"""The adversarial suite's attacks keep their own rules (bench/engine/attacks.py): budget, timing,
one vote per (voter, post), camouflage that sees only the past, copycats that never touch the targets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.engine import attacks, search, sim
from bench.engine.world import NOW, World
from reputation.engine import SimpleBayesEngine, VoteData

FAMILIES = sorted(attacks.FAMILIES)


@pytest.fixture(scope="module")
def clean():
    return sim.make_world("clean", 5, "small")


@pytest.fixture(scope="module")
def polarized():
    return sim.make_world("polarized", 5, "small")


def _bare(world: World) -> World:
    """The same world without the optional per-post fields (what a minimal generator gives)."""
    return dataclasses.replace(world, post_author=np.empty(0, np.int64), post_created=np.empty(0),
                               post_popularity=np.empty(0))


def _attack(name, world, seed=0, **params):
    fn = attacks.FAMILIES[name]
    if "engine" in fn.__code__.co_varnames:
        params.setdefault("engine", SimpleBayesEngine())  # the attack only reads sides off it
    return fn(world, np.random.default_rng(seed), **params)


def _check(base: World, att: World, budget: float = 0.15):
    d, b = att.data, base.data
    n = len(b)
    V0 = len(base.attacker)
    # the honest world's votes are kept as they were
    for f in ("voter", "post", "value", "created", "author"):
        assert np.array_equal(getattr(d, f)[:n], getattr(b, f)), f
    # accounts: appended ids, join times, mask, budget
    assert np.array_equal(d.voter_ids, np.arange(len(att.attacker)))
    assert len(d.voter_joined) == len(d.voter_ids)
    assert np.array_equal(d.voter_joined[:V0], b.voter_joined)
    assert att.attacker[V0:].all()
    assert att.budget_accounts == int(att.attacker.sum()) - int(base.attacker.sum())
    assert att.attacker.sum() <= budget * len(att.attacker) + 1e-9
    # attack votes: by attackers, one per (voter, post), after joining and after the post appeared, not after NOW
    new = slice(n, None)
    assert att.attacker[d.voter[new]].all()
    key = d.voter.astype(np.int64) * (int(d.post.max()) + 1) + d.post
    assert len(np.unique(key)) == len(key)
    assert (d.created[new] > d.voter_joined[d.voter[new]]).all()
    assert (d.created[new] <= NOW).all()
    first = np.full(int(d.post.max()) + 1, np.inf)
    np.minimum.at(first, b.post, b.created)
    seen = np.isfinite(first[d.post[new]])
    assert (d.created[new][seen] >= first[d.post[new]][seen]).all()
    if len(base.post_author):
        assert np.array_equal(d.author, base.post_author[d.post])
    assert set(np.unique(d.value[new])) <= {-1, 1}


@pytest.mark.parametrize("name", FAMILIES)
def test_family_keeps_the_rules(name, clean, polarized):
    base = polarized if name in attacks.POLARIZED else clean
    att = _attack(name, base)
    _check(base, att)
    assert att.budget_accounts > 0
    assert len(att.data) > len(base.data)
    if name != "decoys":
        assert len(att.push) + len(att.sink) > 0


@pytest.mark.parametrize("name", ["thin_aged", "framing", "bought", "cap_sized", "sink_new"])
def test_family_runs_on_a_world_without_per_post_fields(name, clean):
    base = _bare(clean)
    att = _attack(name, base)
    _check(base, att)


def test_full_budget_is_respected(clean):
    for name in ("group_overflow", "thin_aged", "bought", "brigade"):
        att = _attack(name, clean, share=0.5)  # asks for more than the budget allows
        _check(clean, att)
        assert att.attacker.sum() <= 0.15 * len(att.attacker) + 1e-9
        att = _attack(name, clean, share=0.5, budget_share=0.05)
        _check(clean, att, budget=0.05)


def test_crowd_majority_sees_only_earlier_votes():
    rng = np.random.default_rng(1)
    post = rng.integers(0, 20, 400)
    created = NOW - rng.uniform(0, 10, 400) * 86400
    value = np.where(rng.random(400) < 0.6, 1, -1).astype(np.int8)
    crowd = attacks._Crowd(post, created, value)
    qp = rng.integers(0, 22, 300)
    qt = NOW - rng.uniform(-1, 11, 300) * 86400
    qt[:20] = created[:20]  # a vote cast at the same instant is not yet visible
    qp[:20] = post[:20]
    up, cnt = crowd.counts(qp, qt)
    for i in range(len(qp)):
        before = (post == qp[i]) & (created < qt[i])
        assert cnt[i] == before.sum()
        assert up[i] == (before & (value > 0)).sum()
    maj = crowd.majority(qp, qt, rng)
    decided = 2 * up != cnt
    assert np.array_equal(maj[decided], np.where(2 * up > cnt, 1, -1)[decided])


def test_camouflage_copies_the_visible_majority(clean):
    att = _attack("thin_aged", clean)
    d, n = att.data, len(clean.data)
    camo = np.flatnonzero(~np.isin(d.author[n:], att.push)) + n
    b = clean.data
    rng = np.random.default_rng(0)
    for i in rng.choice(camo, 200, replace=False):
        before = (b.post == d.post[i]) & (b.created < d.created[i])
        up, cnt = (before & (b.value > 0)).sum(), before.sum()
        if 2 * up != cnt:
            assert d.value[i] == (1 if 2 * up > cnt else -1)


def test_copycats_never_vote_on_framing_targets_and_copy_later(clean):
    att = _attack("framing", clean, share=0.06)
    d, n, b = att.data, len(clean.data), clean.data
    assert len(att.sink) and not len(att.push)
    assert not np.isin(d.author[n:], att.sink).any()
    # every copied vote repeats an earlier honest vote on the same post in the same direction
    honest = {}
    for p, v, t in zip(b.post.tolist(), b.value.tolist(), b.created.tolist()):
        honest.setdefault((p, v), []).append(t)
    for i in range(n, len(d), 37):
        times = honest.get((int(d.post[i]), int(d.value[i])))
        assert times and min(times) < d.created[i]


def test_bought_accounts_are_established_honest_voters(clean):
    att = _attack("bought", clean)
    taken = np.flatnonzero(att.attacker)
    assert len(taken) and (taken < len(clean.attacker)).all()  # taken over, not created
    votes = np.bincount(clean.data.voter, minlength=len(clean.attacker))
    assert (votes[taken] >= 30).all()


def test_cap_sized_reads_the_engine_at_run_time(clean):
    class Tight(SimpleBayesEngine):
        voter_author_cap = 1.0

    att = attacks.cap_sized(clean, np.random.default_rng(0), engine=Tight())
    d, n = att.data, len(clean.data)
    targets = np.concatenate([att.push, att.sink])
    on = n + np.flatnonzero(np.isin(d.author[n:], targets))
    per = np.unique(d.voter[on] * 100000 + d.author[on], return_counts=True)[1]
    assert per.max() <= 1
    assert attacks.thresholds(Tight())["voter_author_cap"] == 1.0


def test_strikes_land_before_an_engines_settling_time(clean):
    """Against an engine whose votes carry their record only once `settle_days` old, every strike
    is cast that much earlier (the attacker reads the setting)."""
    class Settling(SimpleBayesEngine):
        settle_days = 14.0

    d, n = clean.data, len(clean.data)
    for engine, oldest in ((SimpleBayesEngine(), 0.0), (Settling(), 15.0)):
        att = attacks.thin_aged(clean, np.random.default_rng(0), engine=engine)
        on = n + np.flatnonzero(np.isin(att.data.author[n:], att.push))
        assert len(on) and ((NOW - att.data.created[on]) / 86400.0 >= oldest - 1e-6).all()
    assert d is clean.data


def test_settings_start_with_the_issue_setting_and_are_deterministic():
    for name in FAMILIES:
        a, b = search.settings(name, 6, seed=1), search.settings(name, 6, seed=1)
        assert a == b and a[0] == {} and len(a) <= 6
        fn = attacks.FAMILIES[name]
        for s in a:
            assert set(s) <= set(fn.__code__.co_varnames[: fn.__code__.co_argcount])


def test_search_family_reports_the_best_setting(clean):
    res = search.search_family("sink_new", lambda seed, polarized=False: clean, [5], engine_factory=SimpleBayesEngine,
                               n_settings=2, n_best=1, baselines=("mean",))
    assert res["family"] == "sink_new" and res["objective"] == "shift"
    assert res["engine_worst"] >= res["engine_mean"]
    assert res["best_baseline"] == "mean" and res["accounts"] > 0 and res["share"] <= 0.15
    assert max(t["objective"] for t in res["trials"]) == pytest.approx(res["engine_mean"])


def test_vote_data_solicited_flags_survive(clean):
    d = clean.data
    flagged = dataclasses.replace(d, solicited=np.zeros(len(d), bool))
    flagged.solicited[::10] = True
    base = dataclasses.replace(clean, data=flagged)
    att = _attack("sybil", base)
    assert isinstance(att.data, VoteData)
    assert np.array_equal(att.data.solicited[: len(d)], flagged.solicited)
    assert not att.data.solicited[len(d):].any()  # attackers cannot have Merit ask them


def test_discredit_never_votes_on_its_targets_and_opposes_their_supporters_elsewhere(clean):
    att = _attack("discredit", clean, share=0.06)
    d, n, b = att.data, len(clean.data), clean.data
    assert len(att.sink) and not len(att.push)
    assert not np.isin(d.author[n:], att.sink).any()
    supporters = np.unique(b.voter[np.isin(b.author, att.sink) & (b.value > 0)])
    theirs = {(p, v) for p, v, w in zip(b.post.tolist(), b.value.tolist(), b.voter.tolist()) if w in set(supporters.tolist())}
    opposing = [(p, -v) in theirs for p, v in zip(d.post[n:].tolist(), d.value[n:].tolist())]
    assert np.mean(opposing) > 0.3  # besides the camouflage, the votes oppose a supporter's vote on that post
