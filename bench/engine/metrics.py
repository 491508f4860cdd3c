"""Scoring a method's output against the simulated truth."""

from __future__ import annotations

import numpy as np
from scipy import stats


def percentile(score: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Percentile (0-100) of each masked author's score among the masked authors; NaN elsewhere."""
    out = np.full(len(score), np.nan)
    r = stats.rankdata(score[mask])
    out[mask] = 100 * (r - 1) / max(mask.sum() - 1, 1)
    return out


def auc(pos_scores: np.ndarray, neg_scores: np.ndarray) -> float:
    """P(a positive scores above a negative), ties half (Mann-Whitney)."""
    if not len(pos_scores) or not len(neg_scores):
        return float("nan")
    r = stats.rankdata(np.concatenate([pos_scores, neg_scores]))
    n1, n0 = len(pos_scores), len(neg_scores)
    return float((r[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def evaluate(world, res, clean_res=None) -> dict:
    score = np.nan_to_num(res.score, nan=np.nanmedian(res.score))
    E = world.honest_votes >= 5
    out = {"tau": float(stats.kendalltau(score[E], world.truth[E]).statistic)}
    k = max(1, round(0.1 * E.sum()))
    idx = np.flatnonzero(E)
    true_top = set(idx[np.argsort(-world.truth[E], kind="stable")[:k]])
    pred_top = set(idx[np.argsort(-score[E], kind="stable")[:k]])
    out["top10_recall"] = len(true_top & pred_top) / k
    if clean_res is not None and (len(world.push) or len(world.sink)):
        clean = np.nan_to_num(clean_res.score, nan=np.nanmedian(clean_res.score))
        all_ = np.ones(len(score), bool)
        p_att, p_clean = percentile(score, all_), percentile(clean, all_)
        moves = np.concatenate([p_att[world.push] - p_clean[world.push], p_clean[world.sink] - p_att[world.sink]])
        out["target_shift"] = float(moves.mean())
        out["target_shift_max"] = float(moves.max())
    if world.author_camp is not None:
        lift = percentile(score, E) - percentile(world.truth, E)
        out["polarized_lift"] = float(lift[E & (world.author_camp == 0)].mean())
    if res.low is not None:
        t = 100 * world.truth[E]
        out["coverage90"] = float(((res.low[E] <= t) & (t <= res.high[E])).mean())
    if res.voter_cred is not None and world.attacker.any():
        voted = np.bincount(world.data.voter, minlength=len(world.attacker)) > 0
        c = res.voter_cred
        out["cred_auc"] = auc(c[voted & ~world.attacker], c[voted & world.attacker])
    return out
