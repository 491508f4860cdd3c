"""Run the engine and the baselines over the simulated worlds and the real Bitcoin OTC data."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from reputation.engine import VoteData, get_engine

from .baselines import BASELINES, Result
from .metrics import auc, evaluate
from .sim import NOW, make_world

OTC = Path("/work/shared/data/real/bitcoin_otc_alpha")


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


def run_world(scenario: str, seed: int, size: str, clean_cache: dict, methods: list[str]) -> list[dict]:
    world = make_world(scenario, seed, size)
    A = len(world.truth)
    rows = []
    for name in methods:
        t = time.perf_counter()
        if name == "engine":
            res, _ = engine_result(world.data, A, NOW)
        else:
            res = BASELINES[name](world.data, A, world.followers)
        secs = time.perf_counter() - t
        key = (size, seed, name)
        if scenario == "clean":
            clean_cache[key] = res
        m = evaluate(world, res, clean_cache.get(key))
        rows.append({"scenario": scenario, "seed": seed, "size": size, "method": name, "votes": len(world.data), "secs": secs, **m})
    return rows


def _otc_votes(drop_raters: tuple[int, ...]) -> tuple[VoteData, int]:
    rows = np.loadtxt(OTC / "soc-sign-bitcoinotc.csv", delimiter=",")
    keep = ~np.isin(rows[:, 0], drop_raters)
    src, dst, rating, t = rows[keep, 0].astype(np.int64), rows[keep, 1].astype(np.int64), rows[keep, 2], rows[keep, 3]
    n = int(max(src.max(), dst.max())) + 1
    # A member "joined" when they first appear in the network, as rater or ratee.
    first = np.full(n, np.inf)
    np.minimum.at(first, np.concatenate([rows[:, 0], rows[:, 1]]).astype(np.int64), np.concatenate([rows[:, 3], rows[:, 3]]))
    voter_ids = np.unique(src)
    data = VoteData(
        voter=src, author=dst, post=np.arange(len(src), dtype=np.int64), value=np.sign(rating).astype(np.int8),
        created=t, voter_ids=voter_ids, voter_joined=first[voter_ids],
        owned_author=voter_ids, owner_voter=voter_ids,  # every member rates and is rated
    )
    return data, n


def run_otc(methods: list[str]) -> list[dict]:
    labels = {}
    with open(OTC / "otc_gt.csv") as f:
        for user, label in csv.reader(f):
            labels[int(user)] = int(label)
    users = np.array(list(labels))
    fraud = np.array([labels[u] == -1 for u in users])
    rows = []
    for variant, drop in (("all ratings", ()), ("without raters 1, 2125", (1, 2125))):
        data, n = _otc_votes(drop)
        now = float(data.created.max()) + 86400
        for name in methods:
            if name == "followers":
                continue
            res = engine_result(data, n, now)[0] if name == "engine" else BASELINES[name](data, n, None)
            s = np.nan_to_num(res.score, nan=np.nanmedian(res.score))[users]
            rows.append({"scenario": f"bitcoin_otc ({variant})", "method": name, "otc_auc": auc(-s[fraud], -s[~fraud])})
    return rows
