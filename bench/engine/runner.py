"""Run the engine and the baselines over the simulated worlds and the real Bitcoin OTC data."""

from __future__ import annotations

import time

import numpy as np

from reputation.engine import VoteData, get_engine

from .baselines import BASELINES, Result
from .metrics import evaluate
from .otc import OTC, run_otc_product  # noqa: F401 (OTC: the data's place, ../shared beside the repository)
from .sim import NOW, make_world


def engine_result(data: VoteData, n_authors: int, now: float, engine=None) -> tuple[Result, float]:
    engine = engine or get_engine()
    t = time.perf_counter()
    cred, s = engine.fit(data, now)
    secs = time.perf_counter() - t

    def dense(x):
        return _dense(s.author_ids, x, n_authors)

    voter_cred = np.zeros(int(data.voter_ids.max(initial=0)) + 1)
    voter_cred[cred.voter_ids] = _effective_credibility(cred)
    # An author nobody voted on gets the prior, as the service shows it (score 50, insufficient
    # data), not the median the metrics give a baseline's undefined (NaN) scores.
    score = dense(s.score)
    score[np.isnan(score)] = 100 * getattr(engine, "prior_mean", 0.5)
    return Result(score, dense(s.low), dense(s.high), voter_cred), secs


def _effective_credibility(cred) -> np.ndarray:
    """A voter's weight after its group shares one voice."""
    g = cred.group
    in_group = g >= 0
    size = np.ones(len(g))
    if in_group.any():
        _, inv, cnt = np.unique(g[in_group], return_inverse=True, return_counts=True)
        size[in_group] = cnt[inv]
    return cred.credibility / size


def _dense(ids, values, n):
    out = np.full(n, np.nan)
    out[ids] = values
    return out


def sim2_world(scenario: str, seed: int, size: str = "small"):
    """Generator 2's worlds: its own clean, noise and polarized worlds; every other scenario is the
    attack family of that name (bench/engine/attacks.py, its default setting) on its honest world."""
    from . import attacks, sim2

    if scenario in ("clean", "noise", "polarized"):
        return sim2.make_world(scenario, seed, size)
    family = SIM2_FAMILY.get(scenario, scenario)
    return attacks.FAMILIES[family](sim2.honest_world(seed, size), np.random.default_rng([seed, 77]))


# sim.py's scenario names and the attack families that play them on generator 2.
SIM2_FAMILY = {"slowdrip": "slow_drip", "underthreshold": "under_threshold"}
GENERATORS = {"sim": make_world, "sim2": sim2_world}


def run_world(scenario: str, seed: int, size: str, clean_cache: dict, methods: list[str], generator: str = "sim") -> list[dict]:
    world = GENERATORS[generator](scenario, seed, size)
    A = len(world.truth)
    rows = []
    for name in methods:
        t = time.perf_counter()
        if name == "engine":
            res, _ = engine_result(world.data, A, NOW)
        else:
            res = BASELINES[name](world.data, A, world.followers)
        secs = time.perf_counter() - t
        key = (generator, size, seed, name)
        if scenario == "clean":
            clean_cache[key] = res
        m = evaluate(world, res, clean_cache.get(key))
        rows.append({"generator": generator, "scenario": scenario, "seed": seed, "size": size, "method": name,
                     "votes": len(world.data), "secs": secs, **m})
    return rows


def run_otc(methods: list[str]) -> list[dict]:
    """Bitcoin OTC by the product's protocol: the engine through import_votes / recompute_reputation /
    export_reputation, the baselines in memory on the same votes (see bench/engine/otc.py).

    Rows: {"scenario", "method", "otc_auc"} (plus "path", "secs", "votes")."""
    return run_otc_product(methods)
