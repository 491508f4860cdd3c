"""What an account has proven, and when it stopped behaving like itself.

Three facts about a vote that an attacker cannot mint in bulk (docs: adaptive-threats.md):

- *Prediction.* A vote cast while few votes were visible on its post is a prediction; one cast
  after the crowd had spoken can copy it. Only predictions earn a record (Community Notes'
  "valid ratings"): `visible_before` counts what the voter could see.
- *Time.* A record is worth something only once the account has existed for a while when it
  votes (`proven_ramp`).
- *Continuity.* A taken-over or awakened account shows as a burst of votes on authors it never
  voted on, against what those authors' established voters said, far beyond its own history's
  rate (`changed_at`, a one-sided binomial test over a sliding window). Its votes from then on
  do not carry its old record.

Everything is whole-array NumPy: a few sorts of the votes, no loop over voters.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .types import DAY

_TBITS = 34  # seconds fit in 34 bits for five centuries: (key << 34) | seconds is one sortable int64


def _t0(created: np.ndarray) -> float:
    """The origin of the time keys: a whole second, so any subset of the votes (one partition of the
    refit) puts every vote in the same second as all of them do."""
    return float(np.floor(created.min()))


def _time_keys(group: np.ndarray, created: np.ndarray, t0: float) -> np.ndarray:
    secs = np.clip(created - t0, 0, (1 << _TBITS) - 1).astype(np.int64)
    return (group.astype(np.int64) << _TBITS) | secs


def _dense(ids: np.ndarray) -> np.ndarray:
    """Ids as they are when they fit beside the time in one key (29 bits), else dense codes."""
    if not len(ids) or (ids.min() >= 0 and ids.max() < (1 << (63 - _TBITS))):
        return ids
    return np.unique(ids, return_inverse=True)[1]


def visible_before(post: np.ndarray, created: np.ndarray) -> np.ndarray:
    """Per vote, how many votes on the same post were cast before it (ties: in input order)."""
    if not len(post):
        return np.empty(0, np.int64)
    # One sort of a single int64 key (post, seconds): a two-key lexsort cost twice as much at 10M.
    order = np.argsort(_time_keys(_dense(post), created, _t0(created)), kind="stable")
    p = post[order]
    start = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    rank = np.arange(len(p)) - np.repeat(start, np.diff(np.r_[start, len(p)]))
    out = np.empty(len(post), np.int64)
    out[order] = rank
    return out


def established_consensus(apos: np.ndarray, up: np.ndarray, created: np.ndarray, lags: tuple[float, ...]):
    """Per vote and lag: (up-votes, votes) on the same author cast more than `lag` seconds before it,
    by anyone; a list with one pair per lag.

    Sorted by (author, time), each vote's question "how many before t - lag" is a sorted array of
    queries, so the searches run in order (unsorted queries over 10M keys were the refit's slowest
    step)."""
    if not len(apos):
        return [(np.empty(0), np.empty(0, np.int64)) for _ in lags]
    t0 = _t0(created)
    key = _time_keys(apos, created, t0)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    del key
    cum_up = np.r_[0, np.cumsum(up[order])]
    a = skey >> _TBITS
    secs = skey & ((1 << _TBITS) - 1)
    counts = np.bincount(a, minlength=int(a.max()) + 1)
    first = np.r_[0, np.cumsum(counts)[:-1]][a]
    out = []
    for lag in lags:
        upto = np.searchsorted(skey, (a << _TBITS) | np.maximum(secs - int(lag), 0), "left")
        est_up, est_n = np.empty(len(apos)), np.empty(len(apos), np.int64)
        est_up[order] = cum_up[upto] - cum_up[first]
        est_n[order] = upto - first
        out.append((est_up, est_n))
    return out


def first_on_author(ua_pos: np.ndarray, created: np.ndarray) -> np.ndarray:
    """Per vote, when its voter first voted on that author (`ua_pos`: the (voter, author) pair)."""
    first = np.full(int(ua_pos.max(initial=-1)) + 1, np.inf)
    np.minimum.at(first, ua_pos, created)
    return first[ua_pos]


def changed_at(vpos: np.ndarray, n: int, created: np.ndarray, departs: np.ndarray, *, window_days: float,
               min_votes: int, base_rate: float, prior_votes: float, alpha: float) -> np.ndarray:
    """Per voter, when its behaviour changed (inf = never): the start of the first window of
    `window_days` in which its `departs` votes are improbable under its own earlier rate.

    `departs` marks votes on an author new to the voter that go against that author's
    established voters. A window counts when it holds at least `min_votes` such votes and a
    one-sided binomial test against the voter's rate before the window (shrunk toward
    `base_rate` with `prior_votes`) gives p < `alpha`.
    """
    out = np.full(n, np.inf)
    if not len(vpos):
        return out
    t0 = _t0(created)
    key = _time_keys(vpos, created, t0)
    # Votes of one voter in the same second: departing ones last, whatever order the votes came in (the
    # refit's partitions hand them over in another order than one process reads them).
    order = np.lexsort((departs, key))
    skey, d = key[order], departs[order].astype(np.int64)
    cum = np.r_[0, np.cumsum(d)]
    end = np.arange(1, len(skey) + 1)  # window = votes (start, i], ending at each vote i
    start = np.searchsorted(skey, skey - int(window_days * DAY), "left")
    k, m = cum[end] - cum[start], end - start
    v = (skey >> _TBITS).astype(np.int64)
    vstart = np.searchsorted(skey, v << _TBITS, "left")
    before_k, before_m = cum[start] - cum[vstart], start - vstart
    rate = (before_k + base_rate * prior_votes) / (before_m + prior_votes)
    cand = np.flatnonzero((k >= min_votes) & (k > 1.5 * rate * m))
    if not len(cand):
        return out
    p = stats.binom.sf(k[cand] - 1, m[cand], rate[cand])
    hit = cand[p < alpha]
    if len(hit):
        when = t0 + (skey[start[hit]] & ((1 << _TBITS) - 1)).astype(np.float64)
        np.minimum.at(out, v[hit], when)
    return out


def proven_ramp(age_days: np.ndarray, scale_days: float) -> np.ndarray:
    """How far an account's age at the time of a vote lets its record count, 0..1."""
    return 1.0 - np.exp(-np.maximum(age_days, 0.0) / scale_days)
