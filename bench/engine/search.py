"""A parameter search per attack family: keep the setting that moves the targets most.

`search_family(name, make_honest, seeds)` tries a few settings of one family (`SPACES`: the issue's
setting first, then seeded random draws from the grid) on the first seed, re-runs the best ones on the
other seeds and reports the winner: its params, the engine's mean target shift (percentile points among
all authors, in the attacker's favour, as `metrics.evaluate`), the worst single target, the budget, and
the same attack against the simple baselines. The engine comes from `engine_factory()` at every fit, so
the search follows whatever the engine is now. `run_suite(generators)` runs every family on each
generator.

`make_honest(seed, polarized=False) -> World` is a generator's honest world.
"""

from __future__ import annotations

import inspect
import itertools
import time
import zlib
from collections.abc import Callable

import numpy as np

from reputation.engine import get_engine

from . import attacks
from .baselines import BASELINES
from .metrics import evaluate, percentile
from .runner import engine_result
from .world import NOW, World

SIMPLE_BASELINES = ("mean", "bayes_avg", "wilson", "iterative_refinement")

# The setting of each family is the defaults of its function ({} first); the rest is a grid.
SPACES: dict[str, dict[str, list]] = {
    "thin_aged": {"share": [0.135, 0.15, 0.10], "pair_share": [0.0, 0.5, 1.0], "cross": [False, True],
                  "window": [(0, 30), (0, 7), (0, 60)], "camo": [(10, 20), (20, 40), (5, 8)],
                  "camo_mode": ["late", "early"], "age": [(30, 120), (90, 200)]},
    "sleepers": {"share": [0.043, 0.08, 0.15], "posts_each": [1, 2, 5], "targets_each": [1, 2, 3, 20],
                 "strike_days": [3.0, 1.0], "camo": [(80, 150), (40, 80)], "camo_mode": ["late", "early"], "pretouch": [None, (20, 120)]},
    "bought": {"share": [0.033, 0.07, 0.15], "min_votes": [30, 15, 60], "votes_each": [5, 2, 4, 10],
               "targets_each": [1, 2, 5], "window": [14.0, 3.0, 30.0, 60.0]},
    "sink_new": {"share": [0.022, 0.05, 0.1, 0.15], "posts_each": [1, 2, 5], "targets_each": [1, 2],
                 "honest_range": [(3, 10), (3, 6), (5, 10)], "window": [(0, 14), (0, 3)],
                 "camo_mode": ["late", "early"], "age": [(30, 300), (90, 300)]},
    "cap_sized": {"share": [0.043, 0.1, 0.15], "margin": [1, 0], "camo": [(20, 40), (10, 20), (40, 80)],
                  "window": [(0, 30), (0, 7)], "camo_mode": ["late", "early"], "pretouch": [None, (20, 120)]},
    "framing": {"share": [0.027, 0.06, 0.15], "per_copycat": [2, 3], "link_copies": [1, 2],
                "min_support": [10, 20, 30], "copy_frac": [1.0, 0.8], "delay_days": [None, (0.05, 3.0), "past_window", (2.0, 10.0)]},
    "discredit": {"share": [0.05, 0.1, 0.15], "votes_each": [20, 10, 40], "per_victim": [10, 5, 30],
                  "delay_days": [(0.0, 0.5), (0.0, 0.05), (1.0, 5.0)], "camo": [(20, 40), (40, 80)],
                  "camo_mode": ["early", "late"], "min_support": [10, 20]},
    "decoys": {"share": [0.11, 0.15, 0.05], "votes_each": [(20, 40), (50, 100), (100, 200)],
               "axis": ["orthogonal", "camp", "random"], "split": [0.5, 0.65], "author_share": [0.5, 1.0, 0.2]},
    "slow_drip": {"share": [0.09, 0.15, 0.05], "per_target": [2, 1], "targets_each": [4, 1, 2],
                  "days": [60.0, 14.0, 120.0], "camo": [(20, 40), (10, 20)], "camo_mode": ["late", "early"], "pretouch": [None, (20, 120)]},
    "sybil": {"share": [0.05, 0.15, 0.10], "cover": [0.8, 0.3, 0.1], "window": [(0, 0.5), (0, 3)],
              "age": [(0, 3), (2, 3)], "camo": [0, 10], "leaders": [0.0, 0.3]},
    "camouflaged": {"share": [0.05, 0.15, 0.10], "camo": [30, 60, 10], "cover": [0.7, 0.3, 0.1],
                    "window": [(0, 3), (0, 14)], "camo_mode": ["late", "early"], "pretouch": [None, (20, 120)], "leaders": [0.0, 0.3]},
    "brigade": {"share": [0.05, 0.15, 0.10], "min_votes": [10, 30], "cover": [0.8, 0.3],
                "targets_each": [None, 1, 2], "pretouch": [None, (20, 120)]},
    "ring": {"n_ring": [30, 60, 100], "camo": [20, 40], "cover": [0.9, 0.5], "extra_share": [0.0, 0.05, 0.1],
             "camo_mode": ["late", "early"]},
    "under_threshold": {"share": [0.095, 0.15, 0.05], "camo": [60, 30], "cover": [0.12, 0.05, 0.25],
                        "window": [(0, 60), (0, 14)], "camo_mode": ["late", "early"], "pretouch": [None, (20, 120)],
                        "leaders": [0.0, 0.3]},
    "group_overflow": {"share": [0.15, 0.12], "copies_each": [1, 2, 3], "cover": [0.6, 0.3, 1.0],
                       "min_other": [6, 10], "pretouch": [(20, 120), None], "delay_days": [None, (0.05, 2.0)]},
    "thin_push": {"share": [0.03, 0.06, 0.15], "posts_each": [1, 2, 5], "targets_each": [1, 2],
                  "honest_range": [(3, 10), (3, 6), (5, 10)], "window": [(0, 14), (0, 3)],
                  "camo_mode": ["late", "early"]},
    "early_bird": {"share": [0.08, 0.15], "posts_each": [1, 2], "targets_each": [1, 2],
                   "camo": [(20, 40), (40, 80)], "window": [(0, 30), (0, 7)], "age": [(60, 400), (120, 400)]},
    "side_amplify": {"share": [0.05, 0.1, 0.15], "posts_each": [1, 2], "targets_each": [1, 2],
                     "camo": [(20, 40), (40, 80)], "camo_mode": ["late", "early"]},
}
# What a family maximises: the targets' shift, or (decoys, no targets) the larger camp's lift.
OBJECTIVE = {"decoys": "lift_change"}


def settings(name: str, n: int, seed: int = 0) -> list[dict]:
    """The family's default setting, then up to n-1 distinct random draws from its grid (seeded)."""
    space = SPACES.get(name, {})
    keys = list(space)
    total = int(np.prod([len(space[k]) for k in keys])) if keys else 1
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    out, seen = [{}], set()
    if total <= 4 * n:
        combos = list(itertools.product(*(range(len(space[k])) for k in keys)))
        rng.shuffle(combos)
    else:
        combos = (tuple(int(rng.integers(len(space[k]))) for k in keys) for _ in range(40 * n))
    for combo in combos:
        if len(out) >= n:
            break
        if combo in seen or all(i == 0 for i in combo):
            continue
        seen.add(combo)
        out.append({k: space[k][i] for k, i in zip(keys, combo)})
    return out


class _Recorder:
    """Wraps an engine to keep its last fit's output (statuses for the report)."""

    def __init__(self, engine):
        self.engine, self.last = engine, None

    def fit(self, data, now):
        self.last = self.engine.fit(data, now)
        return self.last

    def __getattr__(self, name):
        return getattr(self.engine, name)


def _scores(world: World, method: str, engine_factory):
    A = len(world.truth)
    if method == "engine":
        rec = _Recorder(engine_factory())
        res, _ = engine_result(world.data, A, NOW, engine=rec)
        _, s = rec.last
        status = np.full(A, "", dtype=object)
        status[s.author_ids] = s.status
        return res, status
    return BASELINES[method](world.data, A, world.followers), None


def _moves(world: World, res, clean_res) -> np.ndarray:
    """Per target, its percentile move in the attacker's favour (as metrics.evaluate)."""
    score = np.nan_to_num(res.score, nan=np.nanmedian(res.score))
    clean = np.nan_to_num(clean_res.score, nan=np.nanmedian(clean_res.score))
    all_ = np.ones(len(score), bool)
    p_att, p_clean = percentile(score, all_), percentile(clean, all_)
    return np.concatenate([p_att[world.push] - p_clean[world.push], p_clean[world.sink] - p_att[world.sink]])


class Cache:
    """Honest worlds and their clean scores per (generator, seed, polarized, method)."""

    def __init__(self):
        self.worlds: dict = {}
        self.clean: dict = {}

    def world(self, gen_key, make_honest, seed, polarized) -> World:
        k = (gen_key, seed, polarized)
        if k not in self.worlds:
            self.worlds[k] = make_honest(seed, polarized=polarized) if polarized else make_honest(seed)
        return self.worlds[k]

    def clean_result(self, gen_key, make_honest, seed, polarized, method, engine_factory):
        k = (gen_key, seed, polarized, method)
        if k not in self.clean:
            w = self.world(gen_key, make_honest, seed, polarized)
            res, _ = _scores(w, method, engine_factory)
            self.clean[k] = (res, evaluate(w, res))
        return self.clean[k]


def _run_one(name, params, world, seed, setting_idx, budget_share, engine_factory):
    fn = attacks.FAMILIES[name]
    kw = dict(params)
    if "engine" in inspect.signature(fn).parameters:
        kw["engine"] = engine_factory()
    rng = np.random.default_rng([seed, 7, zlib.crc32(name.encode()), setting_idx])
    return fn(world, rng, budget_share=budget_share, **kw)


def _measure(name, attacked: World, method, clean, engine_factory) -> dict:
    clean_res, clean_eval = clean
    res, status = _scores(attacked, method, engine_factory)
    ev = evaluate(attacked, res, clean_res)
    out = {"tau": ev["tau"], "tau_change": ev["tau"] - clean_eval["tau"]}
    if "cred_auc" in ev:  # P(an honest voter's effective credibility is above an attacker's)
        out["cred_auc"] = ev["cred_auc"]
    if len(attacked.push) or len(attacked.sink):
        mv = _moves(attacked, res, clean_res)
        out.update(shift=float(mv.mean()), worst=float(mv.max()), moves=mv.round(2).tolist())
    if "polarized_lift" in ev:
        out.update(lift=ev["polarized_lift"], lift_change=ev["polarized_lift"] - clean_eval["polarized_lift"])
    if status is not None and len(attacked.sink):
        out["under_review"] = int((status[attacked.sink] == "under_review").sum())
    if status is not None and len(attacked.push):
        out["push_under_review"] = int((status[attacked.push] == "under_review").sum())
    return out


def _objective(name, m: dict) -> float:
    return float(m.get(OBJECTIVE.get(name, "shift"), float("nan")))


def search_family(name: str, make_honest: Callable, seeds, engine_factory=get_engine, budget_share: float = 0.15,
                  n_settings: int = 10, n_best: int = 2, baselines=SIMPLE_BASELINES, gen_key: str = "gen",
                  cache: Cache | None = None, progress=None) -> dict:
    """Search one family against the current engine; returns the winning setting and its effect."""
    seeds = list(seeds)
    cache = cache or Cache()
    polarized = name in attacks.POLARIZED
    started = time.perf_counter()

    def clean(seed, method):
        return cache.clean_result(gen_key, make_honest, seed, polarized, method, engine_factory)

    def world(seed):
        return cache.world(gen_key, make_honest, seed, polarized)

    trials = []
    for i, params in enumerate(settings(name, n_settings, seed=seeds[0])):
        att = _run_one(name, params, world(seeds[0]), seeds[0], i, budget_share, engine_factory)
        m = _measure(name, att, "engine", clean(seeds[0], "engine"), engine_factory)
        trials.append({"idx": i, "params": params, "engine": {seeds[0]: m}, "budget": {seeds[0]: _budget(att)},
                       "objective": _objective(name, m)})
        if progress is not None:
            progress.update(1)
    ranked = sorted(trials, key=lambda t: -np.nan_to_num(t["objective"], nan=-1e9))
    for t in ranked[:n_best]:
        for seed in seeds[1:]:
            att = _run_one(name, t["params"], world(seed), seed, t["idx"], budget_share, engine_factory)
            t["engine"][seed] = _measure(name, att, "engine", clean(seed, "engine"), engine_factory)
            t["budget"][seed] = _budget(att)
            if progress is not None:
                progress.update(1)
        t["objective"] = float(np.mean([_objective(name, m) for m in t["engine"].values()]))
    best = max(ranked[:n_best], key=lambda t: np.nan_to_num(t["objective"], nan=-1e9))
    # the winner against the baselines, on every seed
    base = {b: {} for b in baselines}
    for seed in seeds:
        att = _run_one(name, best["params"], world(seed), seed, best["idx"], budget_share, engine_factory)
        for b in baselines:
            base[b][seed] = _measure(name, att, b, clean(seed, b), engine_factory)
    key = OBJECTIVE.get(name, "shift")
    base_mean = {b: float(np.mean([m.get(key, np.nan) for m in base[b].values()])) for b in baselines}
    best_baseline = min(base_mean, key=lambda b: np.nan_to_num(base_mean[b], nan=1e9)) if base_mean else None
    em = list(best["engine"].values())
    out = {
        "family": name, "doc": " ".join((attacks.FAMILIES[name].__doc__ or "").split()),
        "objective": key, "params": _jsonable(best["params"]), "seeds": seeds,
        "engine_mean": float(np.mean([_objective(name, m) for m in em])),
        "engine_worst": float(np.max([m.get("worst", np.nan) for m in em])) if key == "shift" else None,
        "engine_tau_change": float(np.mean([m["tau_change"] for m in em])),
        "baseline_mean": base_mean, "best_baseline": best_baseline,
        "best_baseline_mean": base_mean.get(best_baseline) if best_baseline else None,
        "accounts": int(np.mean([b["accounts"] for b in best["budget"].values()])),
        "share": float(np.mean([b["share"] for b in best["budget"].values()])),
        "per_seed": {str(s): m for s, m in best["engine"].items()},
        "baseline_per_seed": {b: {str(s): m for s, m in v.items()} for b, v in base.items()},
        "trials": [{"params": _jsonable(t["params"]), "objective": t["objective"],
                    "seeds": [int(s) for s in t["engine"]]} for t in trials],
        "secs": time.perf_counter() - started,
    }
    if "cred_auc" in em[0]:
        out["engine_cred_auc"] = float(np.mean([m["cred_auc"] for m in em]))
    if "under_review" in em[0]:
        out["under_review"] = float(np.mean([m["under_review"] for m in em]))
        out["n_sink"] = len(best["engine"][seeds[0]].get("moves", [])) if key == "shift" else None
    if "lift_change" in em[0]:
        out["engine_lift_change"] = float(np.mean([m["lift_change"] for m in em]))
        out["baseline_tau_change"] = {b: float(np.mean([m["tau_change"] for m in base[b].values()])) for b in baselines}
    return out


def _budget(w: World) -> dict:
    total = len(w.attacker)
    return {"accounts": int(w.budget_accounts), "share": w.budget_accounts / max(total, 1)}


def _jsonable(p: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}


def run_suite(generators: dict[str, Callable], families=None, seeds=(1, 2, 3), engine_factory=get_engine,
              budget_share: float = 0.15, n_settings: int = 10, n_best: int = 2, progress_factory=None) -> dict:
    """Every family on each generator: {generator: {family: search_family result}}."""
    families = list(families or attacks.FAMILIES)
    out = {}
    for gen, make_honest in generators.items():
        cache = Cache()
        bar = None
        if progress_factory is not None:
            bar = progress_factory(total=len(families) * (n_settings + n_best * (len(seeds) - 1)), desc=gen)
        out[gen] = {}
        for name in families:
            if bar is not None:
                bar.set_postfix_str(name)
            out[gen][name] = search_family(name, make_honest, seeds, engine_factory, budget_share, n_settings, n_best,
                                           gen_key=gen, cache=cache, progress=bar)
        if bar is not None:
            bar.close()
    return out
