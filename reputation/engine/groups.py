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
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

_MASK = np.uint64((1 << 61) - 1)


def _uniq(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based: much faster than hashing for large int64 arrays)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if len(x) else x


def _factorize(x: np.ndarray) -> np.ndarray:
    """Dense 0..k-1 codes of x, in sorted order of the values."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    codes = np.empty(len(x), np.int64)
    codes[order] = np.cumsum(np.r_[False, xs[1:] != xs[:-1]]) if len(x) else 0
    return codes


def _minhash(vpos: np.ndarray, token: np.ndarray, n_voters: int, n_hash: int, seed: int) -> np.ndarray:
    """Per voter, the minimum of each of n_hash hashes of its tokens (votes sorted by voter)."""
    rng = np.random.default_rng(seed)
    mult = rng.integers(1, 2**61 - 1, n_hash, dtype=np.uint64) | np.uint64(1)
    add = rng.integers(0, 2**61 - 1, n_hash, dtype=np.uint64)
    starts = np.flatnonzero(np.r_[True, vpos[1:] != vpos[:-1]])
    owners = vpos[starts]
    out = np.full((n_voters, n_hash), np.iinfo(np.uint64).max, np.uint64)
    tok = token.astype(np.uint64)
    with np.errstate(over="ignore"):
        for i in range(n_hash):  # a handful of whole-array passes, not a loop over votes
            h = ((tok * mult[i] + add[i]) ^ (tok >> np.uint64(17))) * np.uint64(0x9E3779B97F4A7C15) & _MASK
            out[owners, i] = np.minimum.reduceat(h, starts)
    return out


def _candidates(sig: np.ndarray, eligible: np.ndarray, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of voters sharing a band of `rows` minhashes: chain each bucket and star it to its first member."""
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(eligible)
    us, vs = [], []
    with np.errstate(over="ignore"):
        for b in range(sig.shape[1] // rows):
            key = np.zeros(len(idx), np.uint64)
            for r in range(rows):
                key = key * np.uint64(0x100000001B3) ^ sig[idx, b * rows + r]
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
    pair = _uniq(lo.astype(np.int64) * (len(eligible) + 1) + hi)
    return pair // (len(eligible) + 1), pair % (len(eligible) + 1)


def _verify(X: sparse.csr_matrix, k: np.ndarray, u, v, threshold: float, min_co: int, collide: float):
    """Keep pairs whose co-votes beyond chance reach `threshold` of the smaller voter's activity.

    Chance is k_u * k_v * sum(pi_t^2) (pi = token popularity): heavy voters of
    popular posts overlap a lot without coordinating.
    """
    if not len(u):
        return u, v
    co = np.empty(len(u))
    step = 200_000  # bounds the memory of the row gathers
    for s in range(0, len(u), step):
        co[s : s + step] = np.asarray(X[u[s : s + step]].multiply(X[v[s : s + step]]).sum(axis=1)).ravel()
    excess = co - k[u].astype(float) * k[v] * collide
    ok = (co >= min_co) & (excess / (np.minimum(k[u], k[v]) + 10) >= threshold)
    return u[ok], v[ok]


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


def _lead_shares(vpos, token, created, u, v, lag: float):
    """Per pair: the share of the tokens both voted on where u voted first (by more than `lag`
    seconds), and where v did. A copier replaying another's public votes is later on nearly all."""
    if not len(u):
        return np.zeros(0), np.zeros(0)
    voters = np.union1d(u, v)
    key, t, base = _first_times(vpos, token, created, voters)
    rows = np.searchsorted(voters, key // base)
    cols = _factorize(key % base)
    T = sparse.csr_matrix((t - t.min() + 1.0, (rows, cols)), shape=(len(voters), int(cols.max(initial=0)) + 1))
    A, B = T[np.searchsorted(voters, u)], T[np.searchsorted(voters, v)]
    both = (A > 0).multiply(B > 0)
    shared = np.maximum(np.asarray(both.sum(axis=1)).ravel(), 1)
    D = (A.multiply(both) - B.multiply(both)).tocsr()
    row = np.repeat(np.arange(len(u)), np.diff(D.indptr))
    u_first = np.bincount(row, D.data < -lag, len(u)) / shared
    v_first = np.bincount(row, D.data > lag, len(u)) / shared
    return u_first, v_first


def _mutual(u, v, u_first, v_first, lead_share: float):
    """The pairs in which neither voted first on `lead_share` of what they share (one-sided pairs link no one)."""
    mutual = (u_first < lead_share) & (v_first < lead_share)
    return u[mutual], v[mutual]


def _block_edges(XT: sparse.csr_matrix, *, threshold, min_co, min_voters, min_hits, hit_share, n_hash, rows,
                 timing=None, early_rank: float = 0.25):
    """Voter pairs that hit the same dense block of (author, direction) targets.

    Pairwise co-voting misses attacks spread thin (each account strikes a few
    target posts, or strikes over weeks): two attackers then share only a couple
    of targets. The targets, though, share far more voters than chance. So the
    same MinHash + exact check runs on the transposed side, `XT` = (author,
    direction) nodes x voters; linked nodes form blocks of at least 3, and a voter
    who hits at least `min_hits` and `hit_share` of a block's nodes joins that
    block's group (returned as a chain of pairs through its members).
    """
    n_nodes, n_voters = XT.shape
    k = np.diff(XT.indptr)
    node = np.repeat(np.arange(n_nodes), k)
    kv = XT.indices.astype(np.int64)
    act = np.bincount(kv, minlength=n_voters).astype(float)
    # Chance overlap of two nodes, among the voters who could join a block (min_hits nodes or
    # more): a flood of one-vote accounts would otherwise deflate chance until honest voters'
    # ordinary overlap looked coordinated (found by the flood test: 3,000 one-vote accounts put a
    # small world's 300 honest voters into one group).
    act[act < min_hits] = 0.0
    collide = float(((act / max(act.sum(), 1.0)) ** 2).sum())
    sig = _minhash(node, kv, n_nodes, n_hash, seed=7)
    u, v = _candidates(sig, k >= min_voters, rows, seed=7)
    u, v = _verify(XT, k, u, v, threshold, min_co, collide)
    if not len(u):
        return u, v, None
    G = sparse.coo_matrix((np.ones(len(u)), (u, v)), shape=(n_nodes, n_nodes))
    _, label = csgraph.connected_components(G, directed=False)
    linked = np.zeros(n_nodes, bool)
    linked[u] = linked[v] = True
    size = np.bincount(label[linked], minlength=label.max() + 1)
    block = np.where(linked & (size[label] >= 3), label, -1)
    hit = block[node] >= 0
    bkey, cnt = np.unique(block[node[hit]] * n_voters + kv[hit], return_counts=True)  # nodes hit per (block, voter)
    pb, pv = bkey // n_voters, bkey % n_voters
    ok = (cnt >= min_hits) & (cnt >= hit_share * size[pb])
    pb, pv = pb[ok], pv[ok]
    if timing is not None and len(pb):
        # Members who voted on the block's targets before most of the others were there first:
        # a later crowd copying them (framing) must not make them members of its group.
        keep = timing(block, pb, pv) >= early_rank
        pb, pv = pb[keep], pv[keep]
    same = pb[1:] == pb[:-1]  # sorted by block: chain the members of each block
    return pv[:-1][same], pv[1:][same], (pb, pv)


def _member_ranks(vpos, node_of, created):
    """A function (block per node, member blocks, member voters) -> each member's mean time rank
    (0 = first, 1 = last) among the block's members on the block's nodes it voted on."""
    def ranks(block, pb, pv):
        members = np.unique(pv)
        sel = np.isin(vpos, members)
        vp, nd, t = vpos[sel], node_of(sel), created[sel]
        on = nd >= 0
        vp, nd, t = vp[on], nd[on], t[on]
        b = block[nd]
        mkey = pb * (int(vpos.max(initial=0)) + 1) + pv  # (block, member) pairs, sorted
        mine = np.isin(b * (int(vpos.max(initial=0)) + 1) + vp, mkey)
        vp, nd, t = vp[mine], nd[mine], t[mine]
        order = np.lexsort((t, nd))
        ndo = nd[order]
        start = np.flatnonzero(np.r_[True, ndo[1:] != ndo[:-1]]) if len(ndo) else np.empty(0, np.int64)
        size = np.diff(np.r_[start, len(ndo)])
        r = np.arange(len(ndo)) - np.repeat(start, size)
        pct = np.empty(len(ndo))
        pct[order] = r / np.maximum(np.repeat(size, size) - 1, 1)
        key = block[nd] * (int(vpos.max(initial=0)) + 1) + vp
        pos = np.searchsorted(mkey, key)
        return np.bincount(pos, pct, len(mkey)) / np.maximum(np.bincount(pos, minlength=len(mkey)), 1)

    return ranks


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
    created: np.ndarray | None = None,
    lag: float = 3600.0,
    lead_share: float = 0.8,
    return_edges: bool = False,
):
    """Group id per voter position (-1 = none); with `return_edges`, also the verified pairs inside
    the kept groups (voter positions, lo < hi) and the block members ([position, block] rows).
    Votes must be sorted by vpos.

    With `created`, a pair is one-sided when one of the two voted first (by more than `lag`)
    on at least `lead_share` of what they share: the later one may copy the earlier, not the
    reverse, and a one-sided pair links no one, so copycats cannot chain honest voters into one
    group. (Linking followers to each other still let copycats reach honest voters who
    happened to follow another honest voter.) A copier's votes are not lost to the engine's
    other defenses: agreeing with votes already visible earns no record, so they share the
    unproven pool.
    """
    sign = (value > 0).astype(np.int64)
    n_votes = np.bincount(vpos, minlength=n_voters)
    us, vs = [], []
    blocks = None
    for level, tokens, threshold in (
        (0, post.astype(np.int64) * 2 + sign, post_threshold),
        (1, author.astype(np.int64) * 2 + sign, author_threshold),
    ):
        # Distinct tokens per voter (several posts of one author make one author token).
        base = int(tokens.max(initial=0)) + 1
        key = _uniq(vpos.astype(np.int64) * base + tokens)
        tv, tt = key // base, key % base
        tcol = _factorize(tt)
        k = np.bincount(tv, minlength=n_voters)
        X = sparse.csr_matrix((np.ones(len(tv), np.float32), (tv, tcol)), shape=(n_voters, int(tcol.max(initial=0)) + 1))
        pop = np.bincount(tcol).astype(float)
        collide = float(((pop / pop.sum()) ** 2).sum()) if len(pop) else 0.0
        sig = _minhash(tv, tt, n_voters, n_hash, seed=level)
        u, v = _candidates(sig, (n_votes >= min_votes) & (k >= 2), rows, seed=level)
        u, v = _verify(X, k, u, v, threshold, min_co, collide)
        if created is not None:
            u, v = _mutual(u, v, *_lead_shares(vpos, tokens, created, u, v, lag), lead_share)
        us.append(u)
        vs.append(v)
    node_tokens = _uniq(tt)  # (author, direction) tokens in node order of X's columns
    del key, tv, tt, tcol, sig  # free the token arrays before the block pass (peak memory at 10M votes)
    if block_threshold is not None:  # X is now voters x (author, direction)
        timing = None
        if created is not None:
            tok = author.astype(np.int64) * 2 + sign

            def node_of(sel):
                t = tok[sel]
                i = np.minimum(np.searchsorted(node_tokens, t), len(node_tokens) - 1)
                return np.where(node_tokens[i] == t, i, -1)

            timing = _member_ranks(vpos, node_of, created)
        u, v, blocks = _block_edges(X.T.tocsr(), threshold=block_threshold, min_co=10, min_voters=10, min_hits=3,
                                    hit_share=block_hit_share, n_hash=block_hashes, rows=rows, timing=timing)
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
    keep = linked & (size[label] >= 2) & (size[label] <= max(2, max_group_share * (n_votes > 0).sum()))
    _, group[keep] = np.unique(label[keep], return_inverse=True)
    if not return_edges:
        return group
    pu, pv_ = u[:n_pair], v[:n_pair]
    ok = keep[pu] & keep[pv_] & (pu != pv_)
    lo, hi = np.minimum(pu[ok], pv_[ok]), np.maximum(pu[ok], pv_[ok])
    pair = _uniq(lo.astype(np.int64) * n_voters + hi)
    members = no_blocks
    if blocks is not None:
        bb, bv = blocks
        kb = keep[bv]
        members = np.stack([bv[kb], bb[kb]])  # (member voter position, block id)
    return group, pair // n_voters, pair % n_voters, members


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
