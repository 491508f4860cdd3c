"""What the engine has to beat: the simple aggregates and the classic algorithms.

Each baseline maps (VoteData, number of authors, followers) to a `Result`
with a dense score per author (NaN when an author has no votes), optional 90%
intervals on the 0-100 scale, and optional per-voter credibilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from reputation.engine import VoteData


@dataclass
class Result:
    score: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    voter_cred: np.ndarray | None = None  # indexed by voter id


def _counts(d: VoteData, A: int):
    up = np.bincount(d.author, d.value > 0, A)
    n = np.bincount(d.author, minlength=A).astype(float)
    return up, n


def followers(d: VoteData, A: int, followers: np.ndarray) -> Result:
    return Result(np.log(followers))


def mean(d: VoteData, A: int, followers=None) -> Result:
    up, n = _counts(d, A)
    return Result(np.divide(100 * up, n, out=np.full(A, np.nan), where=n > 0))


def wilson(d: VoteData, A: int, followers=None) -> Result:
    """Wilson lower bound (z = 1.2816, as Reddit's "best") for ranking; its 90% interval for coverage."""
    up, n = _counts(d, A)
    n1 = np.maximum(n, 1)
    p = up / n1

    def bound(z, sign):
        return (p + z * z / (2 * n1) + sign * z * np.sqrt(p * (1 - p) / n1 + z * z / (4 * n1 * n1))) / (1 + z * z / n1)

    score = np.where(n > 0, 100 * bound(1.2816, -1), np.nan)
    return Result(score, 100 * bound(1.645, -1), 100 * bound(1.645, 1))


def bayes_average(d: VoteData, A: int, followers=None, m: float = 5.0) -> Result:
    """IMDb-style: a prior worth m votes at the global up-share."""
    up, n = _counts(d, A)
    c = up.sum() / max(n.sum(), 1)
    a, b = up + m * c, n - up + m * (1 - c)
    score = np.where(n > 0, 100 * a / (a + b), np.nan)
    return Result(score, 100 * stats.beta.ppf(0.05, a, b), 100 * stats.beta.ppf(0.95, a, b))


def iterative_refinement(d: VoteData, A: int, followers=None, iters: int = 50) -> Result:
    """Laureti, Moret, Zhang, Yu (EPL 2006): R_u = 1 / mean squared deviation from Q; objects = authors."""
    r = (d.value > 0).astype(float)
    V = int(d.voter.max()) + 1
    R = np.ones(V)
    n_u = np.bincount(d.voter, minlength=V)
    Q = np.zeros(A)
    for _ in range(iters):
        w = R[d.voter]
        num, den = np.bincount(d.author, w * r, A), np.bincount(d.author, w, A)
        Q_new = np.divide(num, den, out=np.full(A, 0.5), where=den > 0)
        var = np.bincount(d.voter, (r - Q_new[d.author]) ** 2, V) / np.maximum(n_u, 1)
        R = 1.0 / np.maximum(var, 1e-3)
        if np.abs(Q_new - Q).mean() < 1e-6:
            Q = Q_new
            break
        Q = Q_new
    n = np.bincount(d.author, minlength=A)
    return Result(np.where(n > 0, 100 * Q, np.nan), voter_cred=R / R.max())


def matrix_factorisation(d: VoteData, A: int, followers=None, iters: int = 30) -> Result:
    """Community Notes style: r = mu + i_u + i_a + f_u f_a, lambda_i = 0.15, lambda_f = 0.03; score = i_a.

    Fitted by alternating exact least squares per coordinate (each step closes
    over one set of parameters with the others fixed), at the (voter, author) level.
    """
    r = (d.value > 0).astype(float)
    V = int(d.voter.max()) + 1
    u, a = d.voter, d.author
    li, lf = 0.15, 0.03
    rng = np.random.default_rng(0)
    mu, bu, ba = r.mean(), np.zeros(V), np.zeros(A)
    fu, fa = rng.normal(0, 0.1, V), rng.normal(0, 0.1, A)
    for _ in range(iters):
        res = r - mu - ba[a] - fu[u] * fa[a]
        bu = np.bincount(u, res, V) / (np.bincount(u, minlength=V) + li)
        res = r - mu - bu[u] - fu[u] * fa[a]
        ba = np.bincount(a, res, A) / (np.bincount(a, minlength=A) + li)
        res = r - mu - bu[u] - ba[a]
        fu = np.bincount(u, res * fa[a], V) / (np.bincount(u, fa[a] ** 2, V) + lf)
        fa = np.bincount(a, res * fu[u], A) / (np.bincount(a, fu[u] ** 2, A) + lf)
        mu = (r - bu[u] - ba[a] - fu[u] * fa[a]).mean()
    n = np.bincount(a, minlength=A)
    return Result(np.where(n > 0, ba, np.nan))


BASELINES = {
    "followers": followers,
    "mean": mean,
    "wilson": wilson,
    "bayes_avg": bayes_average,
    "iterative_refinement": iterative_refinement,
    "cn_matrix_factorisation": matrix_factorisation,
}
