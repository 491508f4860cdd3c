"""Finding accounts that vote together far more than chance.

Exact pairwise co-voting is quadratic in the voters of a popular post, so
candidates come from MinHash locality-sensitive hashing over each voter's set of
(post, direction) tokens, and again over (author, direction) tokens (which
catches accounts that hit the same authors on different posts). Only candidate
pairs are verified exactly, with sparse row products, against the Community
Notes rule co / (min(k_u, k_v) + 10) >= threshold. A third pass runs the same
test on the transposed side, (author, direction) targets by their voters, to
catch attacks spread too thin for any pair of accounts to stand out (see
`_block_edges`). Groups are the connected components of all verified pairs. Every step is whole-array NumPy/SciPy and
linear in the number of votes.

The detection is written once, as steps over a partition of whole authors (`part_*`: per voter
signatures and distinct tokens, co-vote counts of candidate pairs, a block's hits) composed by
`detect`, which combines them and keeps only the candidate graph; each voter's signature is made
from its tokens in every partition, gathered in its bucket of voters (`band_keys`), and only its band
keys travel on. `detect_groups` is that composition
over one partition holding every vote; the full refit runs it over its executor's partitions.
"""

from __future__ import annotations

import inspect

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from .types import narrow, unique_inverse

_MASK = np.uint64((1 << 61) - 1)


def _uniq(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based: much faster than hashing for large int64 arrays)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if len(x) else x


def _factorize(x: np.ndarray) -> np.ndarray:
    """Dense 0..k-1 codes of x, in sorted order of the values."""
    return unique_inverse(x)[1].astype(np.int64, copy=False)


def _starts(x: np.ndarray) -> np.ndarray:
    """Where each run of equal values of a sorted array begins."""
    return np.flatnonzero(np.r_[True, x[1:] != x[:-1]]) if len(x) else np.empty(0, np.int64)


def _minhash(owner: np.ndarray, token: np.ndarray, n_hash: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per owner (`owner` sorted), the minimum of each of n_hash hashes of its tokens: (owners, rows)."""
    rng = np.random.default_rng(seed)
    mult = rng.integers(1, 2**61 - 1, n_hash, dtype=np.uint64) | np.uint64(1)
    add = rng.integers(0, 2**61 - 1, n_hash, dtype=np.uint64)
    starts = _starts(owner)
    out = np.empty((len(starts), n_hash), np.uint64)
    if not len(starts):
        return owner[:0], out
    tok = token.astype(np.uint64)
    with np.errstate(over="ignore"):
        for i in range(n_hash):  # a handful of whole-array passes, not a loop over votes
            h = ((tok * mult[i] + add[i]) ^ (tok >> np.uint64(17))) * np.uint64(0x9E3779B97F4A7C15) & _MASK
            out[:, i] = np.minimum.reduceat(h, starts)
    return owner[starts], out


def _band_keys(sig: np.ndarray, rows: int) -> np.ndarray:
    """Per signature, one key per band of `rows` minhashes."""
    keys = np.zeros((len(sig), sig.shape[1] // rows), np.uint64)
    with np.errstate(over="ignore"):
        for b in range(keys.shape[1]):
            for r in range(rows):
                keys[:, b] = keys[:, b] * np.uint64(0x100000001B3) ^ sig[:, b * rows + r]
    return keys


def _candidates(keys: np.ndarray, idx: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of the eligible `idx` (sorted, of n; `keys` their band keys) sharing a band: chain each
    bucket and star it to its first member."""
    rng = np.random.default_rng(seed)
    us, vs = [], []
    for b in range(keys.shape[1]):
        key = keys[:, b]
        order = np.lexsort((rng.random(len(idx)), key))
        k, members = key[order], idx[order]
        same = k[1:] == k[:-1]
        us.append(members[:-1][same])
        vs.append(members[1:][same])
        first = np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(len(k)), 0))
        star = np.r_[False, same] & (first != np.arange(len(k)) - 1)
        us.append(members[first[star]])
        vs.append(members[star])
    u, v = np.concatenate(us), np.concatenate(vs)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    pair = _uniq(lo.astype(np.int64) * (n + 1) + hi)
    return pair // (n + 1), pair % (n + 1)


def _covotes(X: sparse.csr_matrix, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per pair, the columns rows u and v of X share (X holds ones)."""
    co = np.empty(len(u))
    step = 200_000  # bounds the memory of the row gathers
    for s in range(0, len(u), step):
        co[s : s + step] = np.asarray(X[u[s : s + step]].multiply(X[v[s : s + step]]).sum(axis=1)).ravel()
    return co


def _verified(co, k, u, v, threshold: float, min_co: int, collide: float):
    """Keep pairs whose co-votes `co` beyond chance reach `threshold` of the smaller voter's activity.

    Chance is k_u * k_v * sum(pi_t^2) (pi = token popularity): heavy voters of
    popular posts overlap a lot without coordinating.
    """
    if not len(u):
        return u, v
    excess = co - k[u].astype(float) * k[v] * collide
    ok = (co >= min_co) & (excess / (np.minimum(k[u], k[v]) + 10) >= threshold)
    return u[ok], v[ok]


def _mutual(u, v, u_first, v_first, lead_share: float):
    """The pairs in which neither voted first on `lead_share` of what they share (one-sided pairs link no one)."""
    mutual = (u_first < lead_share) & (v_first < lead_share)
    return u[mutual], v[mutual]


def _lookup(keys: np.ndarray, values: np.ndarray, x: np.ndarray, missing: int) -> np.ndarray:
    """values[i] where keys[i] == x (keys sorted), else `missing`."""
    if not len(keys):
        return np.full(len(x), missing, np.int64)
    i = np.minimum(np.searchsorted(keys, x), len(keys) - 1)
    return np.where(keys[i] == x, values[i], missing)


# ---- one partition's steps: the votes of a set of whole authors ----------------------------------
# Every token (post or author, with the vote's direction) and every (author, direction) node of the
# block pass lies in one partition, so what the steps return adds up (or, for signatures, takes the
# minimum) to the figures over all votes. Each takes the partition's dict (see `partition`), keeps what
# later steps need in it, drops what none reads again (a pass over the partitions only to drop something
# reads each spilled one back from disk), and returns small arrays. None depends on the order of the votes
# in it. What the last steps keep goes with the dict: the caller drops it.
def partition(vpos, post, author, value, created=None) -> dict:
    """One partition for the steps below: each vote's voter position (in the global voter table),
    post, author, value and time (None: untimed detection)."""
    return {"vpos": narrow(vpos), "post": narrow(post), "author": narrow(author), "sign": value > 0,
            "created": created}


def _tokens(part: dict, level: int) -> np.ndarray:
    return (part["post"] if level == 0 else part["author"]).astype(np.int64) * 2 + part["sign"]


def part_votes(part: dict):
    """(voter positions here, votes each)."""
    return np.unique(part["vpos"], return_counts=True)


def part_tokens(part: dict, level: int, n_voters: int):
    """Keeps the voters x tokens matrix of `level` and the distinct (voter, token) pairs for
    `part_voter_tokens`; returns per voter here (positions, distinct tokens) and the tokens' sum of
    squared popularities and total."""
    for stale in [k for k in part if isinstance(k, tuple) and k[1] != level]:
        del part[stale]  # the previous level's matrix: its pass is over (dropped here, not in a pass of its own)
    tokens = _tokens(part, level)
    base = int(tokens.max(initial=0)) + 1
    key = _uniq(part["vpos"].astype(np.int64) * base + tokens)
    tv, tt = key // base, key % base
    del key
    tcol = _factorize(tt)
    starts = _starts(tv)
    k = np.diff(np.r_[starts, len(tv)])
    # Rows for this partition's voters only (`("rows", level)`: their positions): rows for all n_voters
    # gave each partition a row-pointer array of n_voters + 1 entries per level (at 100M votes, 5M voters
    # and 50 partitions, 2 GB).
    voters = tv[starts]
    part[("rows", level)], part["n_voters"] = voters, n_voters
    part[("X", level)] = sparse.csr_matrix((np.ones(len(tv), np.float32), tcol, np.r_[starts, len(tv)]),
                                           shape=(len(voters), int(tcol.max(initial=0)) + 1))
    if level == 1:
        part["nodes"] = _uniq(tt)  # (author, direction) tokens in the order of X's columns
    pop = np.bincount(tcol).astype(np.int64)
    # Sorted by voter; kept for part_voter_tokens (4-byte tokens where they fit: a third less to keep and move).
    part["pairs"] = (tv.astype(np.int32), tt.astype(np.int32) if base <= np.iinfo(np.int32).max else tt)
    return voters, k, int((pop * pop).sum()), len(tv)


def part_voter_tokens(part: dict, n_buckets: int = 1) -> list:
    """Per bucket of voters (voter position modulo n_buckets), the (voter, token) pairs here of its voters,
    sorted by voter: what a voter's MinHash signature is made of. Tokens travel, not signatures: a
    signature row is 24 hashes (192 bytes) per voter and partition, a pair 12 bytes per vote, and
    at 100M votes in 50 partitions the rows were 16 GB that spilled to disk."""
    tv, tt = part.pop("pairs")  # needed by this shuffle only
    if n_buckets == 1:
        return [(tv, tt)]
    bucket = tv % n_buckets
    return [(tv[bucket == b], tt[bucket == b]) for b in range(n_buckets)]


def band_keys(eligible: np.ndarray, rows: int, n_hash: int, level: int, *pieces):
    """One bucket of voters, its (voter, token) pairs from every partition: each eligible voter's
    MinHash signature over all its tokens, as band keys: (positions, keys)."""
    tv = np.concatenate([p[0] for p in pieces]) if len(pieces) > 1 else pieces[0][0]
    tt = np.concatenate([p[1] for p in pieces]) if len(pieces) > 1 else pieces[0][1]
    keep = eligible[tv]
    tv, tt = tv[keep], tt[keep]
    if len(pieces) > 1:  # each piece is sorted by voter; together they are not
        order = np.argsort(tv, kind="stable")
        tv, tt = tv[order], tt[order]
    owners, sig = _minhash(tv.astype(np.int64), tt, n_hash, seed=level)
    return owners, _band_keys(sig, rows)


def part_covotes(part: dict, level: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per voter pair, the tokens of `level` here both voted on."""
    row = _row_map(part[("rows", level)], part["n_voters"])
    iu, iv = row[u], row[v]
    both = (iu >= 0) & (iv >= 0)  # a voter with no votes here shares nothing here
    co = np.zeros(len(u))
    co[both] = _covotes(part[("X", level)], iu[both], iv[both])
    return co


def _row_map(voters: np.ndarray, n_voters: int) -> np.ndarray:
    """Each voter position's row among `voters`, -1 where it has none, as an array over all positions.
    Every partition looks up every candidate pair: a gather here, where a binary search over the
    partition's voters made this step the group stage's largest at 50 partitions (10M votes: 7.5 s
    of 25 s, measured in process; the pairs and the partitions both grow with the votes)."""
    row = np.full(n_voters, -1, np.int32 if len(voters) < 2**31 else np.int64)
    row[voters] = np.arange(len(voters))
    return row


def _first_times(vpos, token, created, voters):
    """(voter, token) -> earliest vote time, for the votes of `voters` only: (keys, times, base)."""
    sel = np.isin(vpos, voters)
    vp, tk, t = vpos[sel].astype(np.int64), token[sel].astype(np.int64), created[sel]
    base = int(tk.max(initial=0)) + 1
    key = vp * base + tk
    order = np.lexsort((t, key))
    key, t = key[order], t[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.empty(0, bool)
    return key[first], t[first], base


def part_lead_counts(part: dict, level: int, u: np.ndarray, v: np.ndarray, lag: float):
    """Per pair, of the tokens of `level` here both voted on: how many, on how many u voted first
    (by more than `lag` seconds), on how many v did. A copier replaying another's public votes is
    later on nearly all."""
    zero = np.zeros(len(u))
    voters = np.union1d(u, v)
    key, t, base = _first_times(part["vpos"], _tokens(part, level), part["created"], voters)
    if not len(key):
        return zero, zero, zero
    rows = np.searchsorted(voters, key // base)
    cols = _factorize(key % base)
    T = sparse.csr_matrix((t - t.min() + 1.0, (rows, cols)), shape=(len(voters), int(cols.max(initial=0)) + 1))
    A, B = T[np.searchsorted(voters, u)], T[np.searchsorted(voters, v)]
    both = (A > 0).multiply(B > 0)
    D = (A.multiply(both) - B.multiply(both)).tocsr()
    row = np.repeat(np.arange(len(u)), np.diff(D.indptr))
    return (np.asarray(both.sum(axis=1), np.float64).ravel(), np.bincount(row, D.data < -lag, len(u)),
            np.bincount(row, D.data > lag, len(u)))


def part_nodes(part: dict, n_hash: int, min_voters: int):
    """The (author, direction) nodes here, as a nodes x voters matrix kept for the block pass:
    (their tokens, voters each, the MinHash rows of those with `min_voters` or more, over voter positions)."""
    XT = part.pop(("X", 1)).T.tocsr()  # columns: this partition's voters; as voter positions below
    voters = part.pop(("rows", 1))
    XT = part["XT"] = sparse.csr_matrix((XT.data, voters[XT.indices], XT.indptr), shape=(XT.shape[0], part["n_voters"]))
    k = np.diff(XT.indptr)
    node = np.repeat(np.arange(XT.shape[0]), k)
    big = (k >= min_voters)[node]
    _, sig = _minhash(node[big], XT.indices[big], n_hash, seed=7)
    return part["nodes"], k, sig


def part_node_voters(part: dict, tokens: np.ndarray):
    """The voters of the nodes of `tokens` (sorted) that are here: (their tokens, voters each, voter positions)."""
    i = _lookup(part["nodes"], np.arange(len(part["nodes"])), tokens, -1)
    rows = part["XT"][i[i >= 0]]
    return tokens[i >= 0], np.diff(rows.indptr), rows.indices


def part_block_hits(part: dict, block_tokens: np.ndarray, block_ids: np.ndarray, n_voters: int):
    """(block * n_voters + voter position, nodes of the block it voted on here), for the blocks'
    nodes (`block_tokens` sorted, their `block_ids`)."""
    XT = part["XT"]
    block = _lookup(block_tokens, block_ids, part["nodes"], -1)
    node = np.repeat(np.arange(XT.shape[0]), np.diff(XT.indptr))
    hit = block[node] >= 0
    return np.unique(block[node[hit]] * n_voters + XT.indices[hit], return_counts=True)


def part_member_ranks(part: dict, block_tokens, block_ids, mkey: np.ndarray, n_voters: int, window: float):
    """For each vote here of a member on its block's nodes (`mkey`: sorted block * n_voters + voter) that shares
    its post with another such vote: (its row in mkey, its rank among them, 0 = first, 1 = last), among the
    members' votes on the post within `window` seconds of it if there are any, else among all of them there.
    Per post, not per node: a copy follows its original on the same post, while across a node's many posts
    an original ranks behind other originals and their copies (framing on generator 2: honest supporters
    copied within the detector's lag ranked mid-node and joined the copycats' block). Within a window where
    it can: over a post's whole life, an original that voted days after another sits behind that one's
    copies; a copy made later than the window still follows its original, so a vote alone in its window
    takes its rank on the whole post."""
    vpos = part["vpos"]
    sel = np.isin(vpos, _uniq(mkey % n_voters))
    vp, t, post = vpos[sel].astype(np.int64), part["created"][sel], part["post"][sel].astype(np.int64)
    tok = part["author"][sel].astype(np.int64) * 2 + part["sign"][sel]
    key = _lookup(block_tokens, block_ids, tok, -1) * n_voters + vp
    mine = np.isin(key, mkey)  # a vote off the blocks has a negative key
    vp, t, post, key = vp[mine], t[mine], post[mine], key[mine]
    if not len(t):
        return np.empty(0, np.int64), np.empty(0)
    order = np.lexsort((vp, t, post))  # time ties by voter: any order of the votes gives the same ranks
    post, t = post[order], t[order]
    start = _starts(post)
    size = np.diff(np.r_[start, len(post)])
    before_all = np.arange(len(post)) - np.repeat(start, size)
    after_all = np.repeat(size, size) - 1 - before_all
    # One time line with each post's votes far from the next post's: searches within a post's window.
    line = (t - t.min()) + _factorize(post) * (float(t.max() - t.min()) + 4 * window + 1.0)
    before = np.arange(len(line)) - np.searchsorted(line, line - window, side="left")
    after = np.searchsorted(line, line + window, side="right") - np.arange(len(line)) - 1
    alone = before + after == 0
    before, after = np.where(alone, before_all, before), np.where(alone, after_all, after)
    seen = before + after > 0
    pct = before[seen] / (before + after)[seen]
    return np.searchsorted(mkey, key[order][seen]), pct


# ---- the composition: `run(fn, *args)` is [fn(part, *args) for every partition] ------------------
def _pair_level(run, by_voter, level: int, n_voters: int, n_votes, *, threshold, min_co, min_votes, n_hash, rows,
                timed, lag, lead_share):
    """Verified pairs of voters on the tokens of `level`, and each voter's distinct tokens."""
    k = np.zeros(n_voters, np.int64)
    squares = pairs = 0
    for owners, kp, sq, n in run(part_tokens, level, n_voters):
        k[owners] += kp
        squares, pairs = squares + sq, pairs + n
    collide = squares / pairs**2 if pairs else 0.0  # sum over tokens of popularity share squared, exact
    # Each bucket of voters makes its signatures from its tokens in every partition; only band keys come here.
    buckets = by_voter(part_voter_tokens, band_keys, (n_votes >= min_votes) & (k >= 2), rows, n_hash, level)
    idx = np.concatenate([b[0] for b in buckets])
    order = np.argsort(idx)
    idx, keys = idx[order], np.concatenate([b[1] for b in buckets])[order]
    del buckets
    u, v = _candidates(keys, idx, n_voters, seed=level)
    del keys
    if len(u):
        u, v = _verified(np.add.reduce(run(part_covotes, level, u, v)), k, u, v, threshold, min_co, collide)
    if timed and len(u):
        shared, u_first, v_first = (np.add.reduce(x) for x in zip(*run(part_lead_counts, level, u, v, lag)))
        shared = np.maximum(shared, 1)
        u, v = _mutual(u, v, u_first / shared, v_first / shared, lead_share)
    return u, v, k


def _node_covotes(run, node_tokens: np.ndarray, u: np.ndarray, v: np.ndarray, n_voters: int) -> np.ndarray:
    """Per pair of nodes, the voters they share: only the candidate nodes' voters travel."""
    cand = _uniq(np.r_[u, v])
    found, lengths, voters = (np.concatenate(x) for x in zip(*run(part_node_voters, node_tokens[cand])))
    C = sparse.csr_matrix((np.ones(len(voters), np.float32), voters, np.r_[0, np.cumsum(lengths)]),
                          shape=(len(found), n_voters))
    order = np.argsort(found)

    def row(nodes):
        return order[np.searchsorted(found[order], node_tokens[nodes])]

    return _covotes(C, row(u), row(v))


def _block_edges(run, activity: np.ndarray, n_voters: int, *, threshold, min_co, min_voters, min_hits, hit_share,
                 n_hash, rows, timed, window: float, early_rank: float = 0.25, rank_prior: float = 2.0):
    """Voter pairs that hit the same dense block of (author, direction) targets.

    Pairwise co-voting misses attacks spread thin (each account strikes a few
    target posts, or strikes over weeks): two attackers then share only a couple
    of targets. The targets, though, share far more voters than chance. So the
    same MinHash + exact check runs on the transposed side, (author, direction)
    nodes by their voters; linked nodes form blocks of at least 3, and a voter
    who hits at least `min_hits` and `hit_share` of a block's nodes joins that
    block's group (returned as a chain of pairs through its members).
    `activity` is each voter's number of nodes.
    """
    # Chance overlap of two nodes, among the voters who could join a block (min_hits nodes or
    # more): a flood of one-vote accounts would otherwise deflate chance until honest voters'
    # ordinary overlap looked coordinated (found by the flood test: 3,000 one-vote accounts put a
    # small world's 300 honest voters into one group).
    act = activity.astype(float)
    act[act < min_hits] = 0.0
    collide = float(((act / max(act.sum(), 1.0)) ** 2).sum())
    pieces = run(part_nodes, n_hash, min_voters)
    # Nodes in the order of their tokens over all partitions (the order of one partition holding everything).
    tokens = np.concatenate([p[0] for p in pieces])
    order = np.argsort(tokens)
    at = np.empty(len(tokens), np.int64)
    at[order] = np.arange(len(tokens))
    node_tokens, k = tokens[order], np.concatenate([p[1] for p in pieces])[order]
    n_nodes = len(tokens)
    start = np.r_[0, np.cumsum([len(p[0]) for p in pieces])]
    big = np.concatenate([at[start[i] + np.flatnonzero(p[1] >= min_voters)] for i, p in enumerate(pieces)])
    sig = np.concatenate([p[2] for p in pieces])
    del pieces
    by_node = np.argsort(big)
    u, v = _candidates(_band_keys(sig[by_node], rows), big[by_node], n_nodes, seed=7)
    del sig
    if len(u):
        u, v = _verified(_node_covotes(run, node_tokens, u, v, n_voters), k, u, v, threshold, min_co, collide)
    if not len(u):
        return u, v, None
    G = sparse.coo_matrix((np.ones(len(u)), (u, v)), shape=(n_nodes, n_nodes))
    _, label = csgraph.connected_components(G, directed=False)
    linked = np.zeros(n_nodes, bool)
    linked[u] = linked[v] = True
    size = np.bincount(label[linked], minlength=label.max() + 1)
    block = np.where(linked & (size[label] >= 3), label, -1)
    on = np.flatnonzero(block >= 0)
    btok, bid = node_tokens[on], block[on]
    keys, counts = (np.concatenate(x) for x in zip(*run(part_block_hits, btok, bid, n_voters)))
    bkey, row = np.unique(keys, return_inverse=True)
    cnt = np.bincount(row, counts, len(bkey))  # nodes hit per (block, voter)
    pb, pv = bkey // n_voters, bkey % n_voters
    ok = (cnt >= min_hits) & (cnt >= hit_share * size[pb])
    pb, pv = pb[ok], pv[ok]
    if timed and len(pb):
        # Members who voted first on the posts they share with the others are not members: a later crowd
        # copying them (framing) must not make them part of its group. Each member's mean rank
        # (part_member_ranks) is shrunk toward the middle by `rank_prior` votes: a member seen first once or
        # twice in a sparse strike stays one, an original whose every vote its copycats follow does not, and
        # one that shares no post with another member stays one.
        mkey = pb * n_voters + pv
        pos, pct = (np.concatenate(x) for x in zip(*run(part_member_ranks, btok, bid, mkey, n_voters, window)))
        o = np.lexsort((pct, pos))  # summed in one order whatever the partitions
        seen = np.bincount(pos, minlength=len(mkey))
        mean = (np.bincount(pos[o], pct[o], len(mkey)) + 0.5 * rank_prior) / (seen + rank_prior)
        keep = mean >= early_rank
        pb, pv = pb[keep], pv[keep]
    same = pb[1:] == pb[:-1]  # sorted by block: chain the members of each block
    return pv[:-1][same], pv[1:][same], (pb, pv)


def detect(run, n_voters: int, *, timed: bool, return_edges: bool, post_threshold, author_threshold, min_co,
           min_votes, n_hash, rows, max_group_share, block_threshold, block_hit_share, block_hashes, block_min_co,
           block_min_voters, block_min_hits, block_window, lag, lead_share, by_voter=None):
    """`detect_groups` over partitions of whole authors wherever they live: `run(fn, *args)` returns
    [fn(part, *args) for each partition] (see `partition`); `by_voter(split, fn, *args)` returns, for
    each bucket b of voters, fn(*args, *every partition's split(part, n_buckets)[b]) (None: one bucket,
    the partitions' pieces gathered here). Only per-voter vectors, band keys, candidate pairs
    and the candidate nodes' voters come back. `timed`: the partitions have vote times. The settings
    are detect_groups' (`settings()`)."""
    if by_voter is None:
        def by_voter(split, fn, *args):
            return [fn(*args, *(pieces[0] for pieces in run(split, 1)))]
    n_votes = np.zeros(n_voters, np.int64)
    for owners, counts in run(part_votes):
        n_votes[owners] += counts
    pair = dict(min_co=min_co, min_votes=min_votes, n_hash=n_hash, rows=rows, timed=timed, lag=lag,
                lead_share=lead_share)
    u, v, _ = _pair_level(run, by_voter, 0, n_voters, n_votes, threshold=post_threshold, **pair)
    us, vs = [u], [v]
    u, v, activity = _pair_level(run, by_voter, 1, n_voters, n_votes, threshold=author_threshold, **pair)
    us.append(u)
    vs.append(v)
    blocks = None
    if block_threshold is not None:
        u, v, blocks = _block_edges(run, activity, n_voters, threshold=block_threshold, min_co=block_min_co,
                                    min_voters=block_min_voters, min_hits=block_min_hits, hit_share=block_hit_share, window=block_window,
                                    n_hash=block_hashes, rows=rows, timed=timed)
        us.append(u)
        vs.append(v)
    # Pair edges (levels 0, 1) go to the induced groups as they are; block edges are a chain through
    # a block's members, so a block is passed on as its (member, block) rows.
    n_pair = sum(len(x) for x in us[:2])
    u, v = np.concatenate(us), np.concatenate(vs)
    group = np.full(n_voters, -1, np.int64)
    no_blocks = np.empty((2, 0), np.int64)
    if not len(u):
        return (group, u, v, no_blocks) if return_edges else group
    G = sparse.coo_matrix((np.ones(len(u)), (u, v)), shape=(n_voters, n_voters))
    _, label = csgraph.connected_components(G, directed=False)
    size = np.bincount(label)
    linked = np.zeros(n_voters, bool)
    linked[u] = linked[v] = True
    # A "group" spanning a large share of everyone is the crowd itself, not a ring.
    limit = max(2, max_group_share * (n_votes > 0).sum())
    keep = linked & (size[label] >= 2) & (size[label] <= limit)
    if len(u) > n_pair:
        # ...but a dense block's members stay a group of their own: copies of honest histories can make the
        # block's pair component "the crowd", not the block itself (group_overflow).
        bu, bv_ = u[n_pair:], v[n_pair:]
        _, blabel = csgraph.connected_components(
            sparse.coo_matrix((np.ones(len(bu)), (bu, bv_)), shape=(n_voters, n_voters)), directed=False)
        bsize = np.bincount(blabel)
        in_block = np.zeros(n_voters, bool)
        in_block[bu] = in_block[bv_] = True
        alone = in_block & ~keep & (bsize[blabel] >= 2) & (bsize[blabel] <= limit)
        label = np.where(alone, n_voters + blabel, label)
        keep = keep | alone
    _, group[keep] = np.unique(label[keep], return_inverse=True)
    if not return_edges:
        return group
    pu, pv_ = u[:n_pair], v[:n_pair]
    ok = keep[pu] & keep[pv_] & (pu != pv_)
    lo, hi = np.minimum(pu[ok], pv_[ok]), np.maximum(pu[ok], pv_[ok])
    pairs = _uniq(lo.astype(np.int64) * n_voters + hi)
    members = no_blocks
    if blocks is not None:
        bb, bv = blocks
        kb = keep[bv]
        members = np.stack([bv[kb], bb[kb]])  # (member voter position, block id)
    return group, pairs // n_voters, pairs % n_voters, members


def detect_groups(
    vpos: np.ndarray,
    post: np.ndarray,
    author: np.ndarray,
    value: np.ndarray,
    n_voters: int,
    *,
    post_threshold: float = 0.4,
    author_threshold: float = 0.2,
    min_co: int = 5,
    min_votes: int = 5,
    n_hash: int = 24,
    rows: int = 2,
    max_group_share: float = 0.25,
    block_threshold: float | None = 0.2,
    block_hit_share: float = 0.15,
    block_hashes: int = 12,
    block_min_co: int = 10,
    block_min_voters: int = 10,
    block_min_hits: int = 3,
    block_window: float = 86400.0,
    created: np.ndarray | None = None,
    lag: float = 3600.0,
    lead_share: float = 0.8,
    return_edges: bool = False,
):
    """Group id per voter position (-1 = none); with `return_edges`, also the verified pairs inside
    the kept groups (voter positions, lo < hi) and the block members ([position, block] rows).
    The votes may come in any order. This is `detect` on one partition holding every vote.

    With `created`, a pair is one-sided when one of the two voted first (by more than `lag`)
    on at least `lead_share` of what they share: the later one may copy the earlier, not the
    reverse, and a one-sided pair links no one, so copycats cannot chain honest voters into one
    group. (Linking followers to each other still let copycats reach honest voters who
    happened to follow another honest voter.) A copier's votes are not lost to the engine's
    other defenses: agreeing with votes already visible earns no record, so they share the
    unproven pool.
    """
    part = partition(vpos, post, author, value, created)
    given = locals()
    return detect(lambda fn, *args: [fn(part, *args)], n_voters, timed=created is not None, return_edges=return_edges,
                  **{k: given[k] for k in settings()})


def settings(**overrides) -> dict:
    """detect_groups' settings (its keyword defaults), with `overrides`."""
    skip = ("created", "return_edges")
    params = inspect.signature(detect_groups).parameters.values()
    out = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name not in skip}
    unknown = set(overrides) - set(out)
    if unknown:
        raise TypeError(f"not a group detection setting: {', '.join(sorted(unknown))}")
    return {**out, **overrides}


def induced_groups(voter: np.ndarray, apos: np.ndarray, edge_u: np.ndarray, edge_v: np.ndarray, block_members=None):
    """Per vote: its voter's group *on that author*, as a component label (-1 = none), and its size.

    A group is the connected components of the verified pairs; on one author only the members
    who voted on it, linked by pairs of members who both voted on it, count as one group. So an
    account that never votes on an author can link no one there: copycats who chain a target's
    honest supporters through their own histories (framing) leave the supporters apart on the
    target, and only supporters who co-vote beyond chance with each other share a voice.
    A dense block of targets (groups._block_edges) links its members on every author they vote
    on: `block_members` = [voter ids, block].
    `edge_u`/`edge_v` are voter ids. Returns (label, size) per vote.
    """
    n = len(voter)
    label = np.full(n, -1, np.int64)
    size = np.zeros(n, np.int64)
    bm = block_members if block_members is not None and block_members.size else np.empty((2, 0), np.int64)
    members = np.union1d(np.union1d(edge_u, edge_v), bm[0])
    if not len(members) or not n:
        return label, size
    sel = np.flatnonzero(np.isin(voter, members))
    if not len(sel):
        return label, size
    A = int(apos.max()) + 1
    nodes, node_of = np.unique(voter[sel].astype(np.int64) * A + apos[sel], return_inverse=True)
    N = len(nodes)
    nu, nv = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    keep = np.isin(edge_u, members) & np.isin(edge_v, members)
    if keep.any():
        row = np.searchsorted(members, nodes // A)
        VA = sparse.csr_matrix((np.arange(1, N + 1, dtype=np.float64), (row, nodes % A)), shape=(len(members), A))
        Eu, Ev = VA[np.searchsorted(members, edge_u[keep])], VA[np.searchsorted(members, edge_v[keep])]
        both = (Eu > 0).multiply(Ev > 0)
        a, b = Eu.multiply(both).tocsr(), Ev.multiply(both).tocsr()
        a.sort_indices()
        b.sort_indices()
        nu.append(a.data.astype(np.int64) - 1)
        nv.append(b.data.astype(np.int64) - 1)
    extra = 0
    if bm.shape[1]:
        # A block member's votes join the block's virtual node on each author.
        v_s, a_s = voter[sel].astype(np.int64), apos[sel].astype(np.int64)
        mkey = np.unique(bm[0].astype(np.int64) * (int(bm[1].max()) + 1) + bm[1])
        for b_id in np.unique(bm[1]):  # blocks are few (one per campaign); each step is whole-array
            # Every vote of a block's members joins the block on its author: a block's members strike
            # its targets and more (a target whose node fell outside the block: under-threshold worst
            # target +70 when only the block's own nodes counted). Honest voters who were first on the
            # block's targets are not members (their time ranks: _member_ranks), so copycats cannot
            # bring them in.
            in_b = np.isin(v_s * (int(bm[1].max()) + 1) + b_id, mkey)
            if not in_b.any():
                continue
            authors, virt = np.unique(a_s[in_b], return_inverse=True)
            nu.append(node_of[in_b])
            nv.append(N + extra + virt)
            extra += len(authors)
    nu, nv = np.concatenate(nu), np.concatenate(nv)
    total = N + extra
    G = sparse.coo_matrix((np.ones(len(nu)), (nu, nv)), shape=(total, total))
    _, comp = csgraph.connected_components(G, directed=False)
    csize = np.bincount(comp[:N], minlength=comp.max() + 1)  # real nodes only
    grouped = csize[comp[:N]] >= 2
    node_label = np.where(grouped, comp[:N], -1)
    label[sel] = node_label[node_of]
    size[sel] = np.where(grouped, csize[comp[:N]], 0)[node_of]
    return label, size
