"""Attack families against the engine, generator-agnostic: honest `World` in, attacked `World` out.

Every family is `attack(world, rng, **params) -> World`: a NEW world with the honest world's votes, the
attackers' accounts (new voter ids after the existing ones, with `voter_joined`) and their votes (one per
(voter, post), each after its voter joined and not after NOW, never before its post appeared), the
`attacker` mask extended (taken-over accounts marked too), `push` / `sink` set and `budget_accounts` = the
accounts created or taken over. An attack never exceeds `budget_share` of all accounts.

The attacker is white-box (the engine is open source: `thresholds()` reads its caps and detector
settings at run time, so the attacks follow the current engine) but blind to the hidden truth: its
camouflage copies what is VISIBLE when it votes (`_Crowd`: the up-share of the votes already cast on
the post; a tie or an empty post is a coin flip), or, in the "early" mode, predicts a fresh post from
its author's visible record. What an attack needs per post (author, creation time, attention) comes
from the world when it has them, else from the votes (author of the post's votes, first vote time,
vote count). Target choice is the benchmark's, as in `sim.py`: "weak" = lowest third by truth among
authors with >= 8 honest votes, "strong" = top third.

`solicited` votes: the engine reads `VoteData.solicited` nowhere today (merit-v4); an attacker cannot
set it on its own votes anyway, so every attack vote is unsolicited (False) and a world's own flags are
kept.
"""

from __future__ import annotations

import importlib
import inspect
import re

import numpy as np

from reputation.engine import VoteData, get_engine

from .world import DAY, NOW, World

MIN_GAP = 60.0  # seconds between joining (or a post appearing) and a vote on it


# ---- what the attacker reads off the engine ---------------------------------------------------
def thresholds(engine=None) -> dict:
    """The engine's caps and the group detector's settings, read at run time (never copied)."""
    engine = engine or get_engine()
    out = {}
    for k in dir(type(engine)):  # every public numeric setting (caps, ramps, valid_visible, burst_*, ...)
        v = getattr(engine, k, None)
        if not k.startswith("_") and isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = v
    try:
        # the detector of the engine's own package (reputation.engine.groups for the product's engine)
        pkg = type(engine).__module__.rsplit(".", 1)[0]
        groups = importlib.import_module(pkg + ".groups")
        sig = inspect.signature(groups.detect_groups)
        out.update({k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty})
        # settings the engine passes to detect_groups as literals, or keeps as attributes of its own
        fit_src = inspect.getsource(type(engine))
        call = fit_src[fit_src.find("detect_groups("):][:600] if "detect_groups(" in fit_src else ""
        for key in list(out):
            m = re.search(rf"\b{key}\s*=\s*([0-9.]+)", call)
            if m:
                out[key] = float(m.group(1))
            if isinstance(getattr(engine, "group_" + key, None), (int, float)):  # e.g. group_lead_share
                out[key] = getattr(engine, "group_" + key)
        # The block pass's own settings are literals in detect_groups' call of _block_edges.
        src = inspect.getsource(groups.detect_groups)
        call = src[src.find("_block_edges("):] if "_block_edges(" in src else ""
        for key in ("min_co", "min_voters", "min_hits"):
            m = re.search(rf"\b{key}\s*=\s*(\d+)", call)
            if m:
                out[f"block_{key}"] = int(m.group(1))
    except (ImportError, AttributeError, TypeError, OSError, ValueError):  # no such detector: keep the caps
        pass
    out.setdefault("voter_author_cap", 2.0)
    out.setdefault("group_voice_size", 10.0)
    out.setdefault("votes_to_earn", 5)
    out.setdefault("min_co", 5)
    out.setdefault("block_min_hits", 3)
    out.setdefault("block_min_co", 10)
    out.setdefault("max_group_share", 0.25)
    out.setdefault("min_votes", 5)
    out.setdefault("valid_visible", 0)  # 0: the engine does not judge votes by what was visible
    return out


# ---- the world as the attacker sees it ----------------------------------------------------------
class _Crowd:
    """Votes visible at a moment: per key (post or author), the votes cast strictly before t."""

    def __init__(self, key: np.ndarray, created: np.ndarray, value: np.ndarray):
        self.t0 = float(created.min(initial=NOW)) - 1.0
        self.span = float(max(created.max(initial=NOW), NOW) - self.t0) + 2.0
        k = key.astype(np.float64) * self.span + (created - self.t0)
        order = np.argsort(k, kind="stable")
        self.k = k[order]
        self.cum_up = np.r_[0, np.cumsum(value[order] > 0)]

    def counts(self, key: np.ndarray, t: np.ndarray):
        base = key.astype(np.float64) * self.span
        start = np.searchsorted(self.k, base, "left")
        end = np.searchsorted(self.k, base + np.clip(t - self.t0, 0.0, self.span - 1.0), "left")
        return self.cum_up[end] - self.cum_up[start], end - start

    def majority(self, key, t, rng, prior=None) -> np.ndarray:
        """+1/-1: the visible majority before t; ties and empty keys: `prior` if given, else a coin."""
        up, n = self.counts(key, t)
        coin = np.where(rng.random(len(up)) < 0.5, 1, -1)
        fallback = coin if prior is None else np.where(prior != 0, prior, coin)
        return np.where(2 * up > n, 1, np.where(2 * up < n, -1, fallback)).astype(np.int8)


class _Ctx:
    def __init__(self, world: World):
        d = world.data
        self.world, self.d = world, d
        self.A = len(world.truth)
        self.P = int(max(len(world.post_author), int(d.post.max(initial=-1)) + 1))
        P = self.P
        if len(world.post_author) == P:
            self.post_author = world.post_author.astype(np.int64)
        else:
            self.post_author = np.full(P, -1, np.int64)
            self.post_author[d.post] = d.author
        first = np.full(P, np.inf)
        np.minimum.at(first, d.post, d.created)
        nvotes = np.bincount(d.post, minlength=P).astype(float)
        if len(world.post_created) == P:
            self.post_created = np.minimum(world.post_created.astype(float), first)
        else:
            # A post nobody voted on: as old as its author's earliest voted post (else the median post).
            first_a = np.full(self.A, np.inf)
            known = np.isfinite(first) & (self.post_author >= 0)
            np.minimum.at(first_a, self.post_author[known], first[known])
            fallback = float(np.median(first[known])) if known.any() else NOW - 30 * DAY
            guess = np.where(self.post_author >= 0, first_a[np.maximum(self.post_author, 0)], np.inf)
            self.post_created = np.where(known, first, np.where(np.isfinite(guess), guess, fallback))
        self.post_pop = world.post_popularity.astype(float) if len(world.post_popularity) == P else nvotes
        self.post_pop = np.where((nvotes > 0) & (self.post_author >= 0), self.post_pop, 0.0)  # camouflage: seen posts
        self.nvotes_post = nvotes
        order = np.argsort(self.post_author, kind="stable")
        cnt = np.bincount(self.post_author[self.post_author >= 0], minlength=self.A)
        valid = order[self.post_author[order] >= 0]
        self.posts_of = np.split(valid, np.cumsum(cnt)[:-1])
        self.V0 = int(max(d.voter_ids.max(initial=-1), d.voter.max(initial=-1))) + 1
        self.joined = np.full(self.V0, NOW - 365 * DAY)
        if len(d.voter_ids):
            self.joined[d.voter_ids] = d.voter_joined
        self.votes_per_voter = np.bincount(d.voter, minlength=self.V0)
        self.post_crowd = _Crowd(d.post, d.created, d.value)
        self.author_crowd = _Crowd(d.author, d.created, d.value)
        self.honest_voters = np.flatnonzero(~world.attacker[: self.V0]) if len(world.attacker) else np.arange(self.V0)
        self.honest_votes = world.honest_votes if len(world.honest_votes) == self.A else np.bincount(d.author, minlength=self.A)

    def weak_strong(self, min_votes: int = 8):
        eligible = np.flatnonzero(self.honest_votes >= min_votes)
        order = eligible[np.argsort(self.world.truth[eligible], kind="stable")]
        third = len(order) // 3
        return order[:third], order[len(order) - third:]

    def target_posts(self, targets) -> np.ndarray:
        return np.concatenate([self.posts_of[a] for a in targets]) if len(targets) else np.empty(0, np.int64)


class _Builder:
    """Accumulates the attackers' accounts and votes, then assembles the attacked World."""

    def __init__(self, world: World, rng: np.random.Generator, budget_share: float = 0.15, engine=None):
        self.ctx = _Ctx(world)
        self.th = thresholds(engine)
        self.world, self.rng, self.budget_share = world, rng, budget_share
        self.new_joined: list[np.ndarray] = []
        self.n_new = 0
        self.taken = np.empty(0, np.int64)
        self.parts: list[tuple] = []
        self.owned_author = np.empty(0, np.int64)
        self.owner_voter = np.empty(0, np.int64)

    # -- accounts
    def room(self) -> int:
        """How many more accounts (new or taken over) the budget allows."""
        V = self.ctx.V0 + self.n_new
        used = self.n_new + len(self.taken)
        s = self.budget_share
        return max(0, int(np.floor((s * V - used) / (1 - s) + 1e-9)))  # x <= s * (V + x) for new accounts

    def accounts_for(self, share: float) -> int:
        """New accounts making up `share` of all accounts afterwards, within the budget."""
        n = int(round(share * self.ctx.V0 / max(1 - share, 1e-9)))
        return max(0, min(n, self.room()))

    def new_accounts(self, n: int, age_lo: float, age_hi: float) -> np.ndarray:
        n = min(int(n), self.room())
        ids = np.arange(self.ctx.V0 + self.n_new, self.ctx.V0 + self.n_new + n)
        self.new_joined.append(NOW - self.rng.uniform(age_lo, age_hi, n) * DAY)
        self.n_new += n
        return ids

    def take_over(self, ids: np.ndarray) -> np.ndarray:
        s = self.budget_share
        V = self.ctx.V0 + self.n_new
        limit = max(0, int(np.floor(s * V + 1e-9)) - self.n_new - len(self.taken))
        ids = np.asarray(ids, np.int64)[:limit]
        self.taken = np.concatenate([self.taken, ids])
        return ids

    def joined_of(self, ids: np.ndarray) -> np.ndarray:
        allj = np.concatenate([self.ctx.joined, *self.new_joined]) if self.new_joined else self.ctx.joined
        return allj[ids]

    # -- votes
    def add(self, voter, post, value, created):
        self.parts.append((np.asarray(voter, np.int64), np.asarray(post, np.int64),
                           np.asarray(value, np.int8), np.asarray(created, float)))

    def when(self, voter, post, t_lo: float, t_hi: float, not_before=None) -> np.ndarray:
        """A time uniform in [NOW - t_hi days, NOW - t_lo days], after the voter joined, the post appeared
        and `not_before` (per vote); squeezed to the latest allowed moment when the window is empty."""
        lo = np.maximum.reduce([np.full(len(voter), NOW - t_hi * DAY), self.joined_of(voter) + MIN_GAP,
                                self.ctx.post_created[post] + MIN_GAP,
                                np.full(len(voter), -np.inf) if not_before is None else not_before])
        hi = np.full(len(voter), NOW - t_lo * DAY)
        hi = np.maximum(hi, lo)
        return np.minimum(lo + self.rng.random(len(voter)) * (hi - lo), NOW)

    def camouflage(self, ids, n_each, t_lo=0.0, t_hi=150.0, mode="late", delay_days=1.0, avoid=(), pool=None):
        """Honest-looking votes on popular posts (not the targets'). "late": at least `delay_days` after
        the post appeared, copying the visible majority then; "early": within hours of the post's
        appearance, predicting it from its author's visible record (the post's own few votes if the
        author has none yet, else a coin)."""
        ids = np.asarray(ids, np.int64)
        n_each = np.broadcast_to(np.asarray(n_each, np.int64), ids.shape)
        if not len(ids) or n_each.sum() == 0:
            return
        c, rng = self.ctx, self.rng
        w = c.post_pop.copy()
        for a in avoid:
            w[c.posts_of[a]] = 0.0
        if pool is not None:
            mask = np.zeros(c.P, bool)
            mask[pool] = True
            w[~mask] = 0.0
        if w.sum() <= 0:
            return
        # oversample, keep each voter's first n distinct posts that exist before the window ends
        v = np.repeat(ids, 3 * n_each + 3)
        p = rng.choice(c.P, len(v), p=w / w.sum())
        start = np.maximum.reduce([self.joined_of(v) + MIN_GAP, np.full(len(v), NOW - t_hi * DAY)])
        end = NOW - t_lo * DAY
        if mode == "early":
            # a prediction: cast while fewer than the engine's valid_visible votes are on the post
            # (an engine without that rule: within hours of the post appearing)
            t = np.maximum(c.post_created[p] + rng.uniform(MIN_GAP, 6 * 3600, len(v)), start)
            vmax = int(self.th.get("valid_visible", 0))
            if vmax > 0:
                seen = c.post_crowd.counts(p, t)[1]
                t = np.where(seen >= vmax, np.maximum(c.post_created[p] + MIN_GAP, start), t)
                seen = c.post_crowd.counts(p, t)[1]
                t = np.where(seen >= vmax, np.inf, t)  # too late for this post: dropped below
        else:
            t = np.maximum(c.post_created[p] + delay_days * DAY, start)
            t = t + rng.random(len(v)) * np.maximum(end - t, 0.0)
        ok = t <= end
        v, p, t = v[ok], p[ok], t[ok]
        key, first = np.unique(v * c.P + p, return_index=True)
        order = np.sort(first)
        v, p, t = v[order], p[order], t[order]
        rank = np.arange(len(v)) - np.searchsorted(v, v, "left") if np.all(np.diff(v) >= 0) else None
        if rank is None:
            o = np.argsort(v, kind="stable")
            v, p, t = v[o], p[o], t[o]
            rank = np.arange(len(v)) - np.searchsorted(v, v, "left")
        o = np.argsort(ids, kind="stable")
        want = n_each[o][np.minimum(np.searchsorted(ids[o], v), len(ids) - 1)]
        keep = rank < want
        v, p, t = v[keep], p[keep], np.minimum(t[keep], NOW)
        if mode == "early":
            post_prior = c.post_crowd.majority(p, t, rng)
            a_up, a_n = c.author_crowd.counts(c.post_author[p], t)
            # the author's record before t, minus this post's own votes (already in post_prior)
            p_up, p_n = c.post_crowd.counts(p, t)
            up, n = a_up - p_up, a_n - p_n
            val = np.where(2 * up > n, 1, np.where(2 * up < n, -1, post_prior)).astype(np.int8)
        else:
            val = c.post_crowd.majority(p, t, rng)
        self.add(v, p, val, t)

    pretouch = None  # (lo, hi) days ago: each account's first strike vote per author is cast then
    leaders = 0.0  # share of the accounts that vote first on every post they strike (see strike)

    def strike(self, voter, post, sign, t_lo, t_hi, not_before=None):
        """Votes of one direction on chosen posts. With `pretouch`, one vote per (account, author)
        is cast weeks earlier, so the strike itself lands on authors the account already voted on
        (a behaviour-change test that looks for bursts on *new* authors does not see it)."""
        voter = np.asarray(voter, np.int64)
        post = np.asarray(post, np.int64)
        # An engine that lets a vote carry its record only once `settle_days` old is answered by
        # striking that much earlier (measured: settling 14 days halved the searched attacks, and
        # striking 15 days earlier took every gain back).
        settle = float(self.th.get("settle_days", 0.0))
        if settle > 0:
            t_lo, t_hi = t_lo + settle + 1.0, t_hi + settle + 1.0
        t = self.when(voter, post, t_lo, t_hi, not_before)
        if self.pretouch is not None and len(voter):
            _, first = np.unique(voter * (self.ctx.A + 1) + self.ctx.post_author[post], return_index=True)
            t[first] = self.when(voter[first], post[first], *self.pretouch)
        if self.leaders > 0 and len(voter):
            # The answer to a block pass that frees the members who vote first on its posts: a share of the
            # accounts (`leaders`) votes on each post just before the strike's first vote there, so they
            # are first wherever they strike and the rest follow within hours.
            accounts = np.unique(voter)
            lead = np.isin(voter, accounts[: int(round(self.leaders * len(accounts)))])
            first_t = np.full(self.ctx.P, np.inf)
            np.minimum.at(first_t, post[~lead], t[~lead])
            ahead = lead & np.isfinite(first_t[post])
            t[ahead] = first_t[post[ahead]] - self.rng.uniform(60.0, 3600.0, int(ahead.sum()))
        self.add(voter, post, np.full(len(voter), sign, np.int8), t)

    # -- the attacked world
    def finish(self, push=(), sink=()) -> World:
        w, c, d = self.world, self.ctx, self.world.data
        n_total = c.V0 + self.n_new
        attacker = np.zeros(n_total, bool)
        attacker[: len(w.attacker)] = w.attacker
        attacker[c.V0:] = True
        attacker[self.taken] = True
        n_att = self.n_new + len(self.taken)
        assert n_att <= self.budget_share * n_total + 1e-9, (n_att, n_total)
        if self.parts:
            av, ap, aval, at = (np.concatenate(x) for x in zip(*self.parts))
        else:
            av = ap = np.empty(0, np.int64)
            aval, at = np.empty(0, np.int8), np.empty(0)
        joined_all = np.concatenate([c.joined, *self.new_joined]) if self.new_joined else c.joined
        at = np.minimum(np.maximum.reduce([at, joined_all[av] + MIN_GAP, c.post_created[ap] + MIN_GAP]), NOW)
        # one vote per (voter, post): the world's own votes first, then the attack's in order
        voter = np.concatenate([d.voter, av])
        post = np.concatenate([d.post, ap])
        _, first = np.unique(voter * c.P + post, return_index=True)
        first = np.sort(first)
        keep_new = first[first >= len(d)] - len(d)
        av, ap, aval, at = av[keep_new], ap[keep_new], aval[keep_new], at[keep_new]
        new_ids = np.arange(c.V0, n_total, dtype=np.int64)
        voter_ids = np.concatenate([d.voter_ids, new_ids]) if len(d.voter_ids) else np.arange(n_total, dtype=np.int64)
        voter_joined = np.concatenate([d.voter_joined, *self.new_joined]) if len(d.voter_ids) else joined_all
        solicited = d.solicited
        if len(d.solicited) == len(d):
            solicited = np.concatenate([d.solicited.astype(bool), np.zeros(len(av), bool)])
        data = VoteData(
            voter=np.concatenate([d.voter, av]).astype(np.int64),
            author=np.concatenate([d.author, c.post_author[ap]]).astype(np.int64),
            post=np.concatenate([d.post, ap]).astype(np.int64),
            value=np.concatenate([d.value, aval]).astype(np.int8),
            created=np.concatenate([d.created, at]).astype(np.float64),
            voter_ids=voter_ids.astype(np.int64), voter_joined=voter_joined.astype(np.float64),
            owned_author=np.concatenate([d.owned_author, self.owned_author]).astype(np.int64),
            owner_voter=np.concatenate([d.owner_voter, self.owner_voter]).astype(np.int64),
            solicited=solicited,
        )
        return World(data, w.truth, w.followers, w.honest_votes, attacker,
                     np.asarray(push, np.int64), np.asarray(sink, np.int64), w.author_camp,
                     post_author=w.post_author, post_created=w.post_created, post_popularity=w.post_popularity,
                     budget_accounts=int(n_att))


# ---- helpers shared by the families --------------------------------------------------------------
def _pick(rng, pool, n):
    pool = np.asarray(pool)
    return rng.choice(pool, min(n, len(pool)), replace=False) if len(pool) else pool.astype(np.int64)


def _spread_strike(b: _Builder, ids, targets, sign, posts_each, targets_each, t_lo, t_hi, cap_per_author=None):
    """Each account hits `targets_each` targets (round robin, so targets get even loads) and
    `posts_each` of each one's posts (its least-hit ones), never more than `cap_per_author` per target."""
    c, rng = b.ctx, b.rng
    targets = np.asarray(targets)
    if not len(ids) or not len(targets):
        return
    load = np.zeros(c.P)
    vs, ps = [], []
    k = max(1, min(int(targets_each), len(targets)))
    offset = 0
    for i in ids:
        ts = targets[(offset + np.arange(k)) % len(targets)]
        offset += k
        for a in ts:
            posts = c.posts_of[a]
            if not len(posts):
                continue
            m = min(int(posts_each), len(posts), int(cap_per_author) if cap_per_author else len(posts))
            pick = posts[np.argsort(load[posts] + rng.random(len(posts)) * 0.5, kind="stable")[:m]]
            load[pick] += 1
            vs.append(np.full(m, i))
            ps.append(pick)
    if vs:
        b.strike(np.concatenate(vs), np.concatenate(ps), sign, t_lo, t_hi)


def _dense_strike(b: _Builder, ids, targets, sign, cover, t_lo, t_hi):
    tp = b.ctx.target_posts(targets)
    v = np.repeat(np.asarray(ids, np.int64), len(tp))
    p = np.tile(tp, len(ids))
    keep = b.rng.random(len(v)) < cover
    b.strike(v[keep], p[keep], sign, t_lo, t_hi)


def _targets(c: _Ctx, rng, n_push, n_sink):
    weak, strong = c.weak_strong()
    return _pick(rng, weak, n_push), _pick(rng, strong, n_sink)


# ---- the families --------------------------------------------------------------------------------
def thin_aged(world, rng, share=0.135, age=(30, 120), camo=(10, 20), pair_share=0.5, cross=False,
              n_targets=10, window=(0, 30), camo_mode="late", engine=None, budget_share=0.15) -> World:
    """Many aged accounts, each a thin crowd-follower adding 1-2 upvotes, arranged so no two attackers
    share more than one post: exploits pairwise co-vote detection (min_co) and, with all of an account's
    strike on one target (`cross=False`), the block pass (no two target nodes share attackers)."""
    b = _Builder(world, rng, budget_share, engine)
    c = b.ctx
    push, _ = _targets(c, rng, n_targets, 0)
    ids = b.new_accounts(b.accounts_for(share), *age)
    b.camouflage(ids, rng.integers(camo[0], camo[1] + 1, len(ids)), 0, 150, camo_mode, avoid=push)
    used_pairs: set = set()
    load = np.zeros(c.P)
    vs, ps = [], []
    all_tp = c.target_posts(push)
    for j, i in enumerate(ids):
        a = push[j % len(push)]
        own = c.posts_of[a]
        if not len(own):
            continue
        first = own[np.argmin(load[own] + rng.random(len(own)) * 0.5)]
        chosen = [first]
        if rng.random() < pair_share:
            cand = all_tp if cross else own
            cand = cand[cand != first]
            cand = cand[np.argsort(load[cand] + rng.random(len(cand)) * 0.5, kind="stable")]
            for q in cand:
                pair = (min(first, q), max(first, q))
                if pair not in used_pairs:
                    used_pairs.add(pair)
                    chosen.append(q)
                    break
        load[chosen] += 1
        vs.append(np.full(len(chosen), i))
        ps.append(np.array(chosen))
    if vs:
        b.strike(np.concatenate(vs), np.concatenate(ps), 1, *window)
    return b.finish(push=push)


def sleepers(world, rng, share=0.043, age=(300, 700), camo=(80, 150), strike_days=3.0, posts_each=2,
             targets_each=2, n_push=10, n_sink=10, camo_mode="late", pretouch=None, engine=None, budget_share=0.15) -> World:
    """Old accounts with long honest-looking histories (full earned credibility and competence) that
    strike in their last days: exploits credibility earned by copying the crowd; `targets_each` small
    keeps the block pass blind."""
    b = _Builder(world, rng, budget_share, engine)
    b.pretouch = pretouch
    push, sink = _targets(b.ctx, rng, n_push, n_sink)
    ids = b.new_accounts(b.accounts_for(share), *age)
    b.camouflage(ids, rng.integers(camo[0], camo[1] + 1, len(ids)), strike_days, 700, camo_mode,
                 avoid=np.concatenate([push, sink]))
    half = len(ids) // 2 if len(push) and len(sink) else (len(ids) if len(push) else 0)
    _spread_strike(b, ids[:half], push, 1, posts_each, targets_each, 0, strike_days)
    _spread_strike(b, ids[half:], sink, -1, posts_each, targets_each, 0, strike_days)
    return b.finish(push=push, sink=sink)


def bought(world, rng, share=0.033, min_votes=30, votes_each=5, targets_each=1, window=14.0, n_targets=10,
           engine=None, budget_share=0.15) -> World:
    """Established honest accounts taken over (earned credibility, real history, honest co-voting
    pattern): exploits that credibility never looks at a change of behaviour after a takeover."""
    b = _Builder(world, rng, budget_share, engine)
    c = b.ctx
    push, _ = _targets(c, rng, n_targets, 0)
    pool = c.honest_voters[c.votes_per_voter[c.honest_voters] >= min_votes]
    if len(pool) < 10:
        pool = c.honest_voters[np.argsort(-c.votes_per_voter[c.honest_voters])][: max(10, len(c.honest_voters) // 10)]
    n = int(round(share * c.V0))
    ids = b.take_over(_pick(rng, pool, n))
    k = max(1, int(targets_each))
    _spread_strike(b, ids, push, 1, max(1, int(np.ceil(votes_each / k))), k, 0, window)
    return b.finish(push=push)


def sink_new(world, rng, share=0.022, age=(30, 300), camo=(15, 30), honest_range=(3, 10), posts_each=2,
             targets_each=1, window=(0, 14), n_targets=10, camo_mode="late", engine=None, budget_share=0.15) -> World:
    """Downvotes on good but new, thinly voted authors: exploits the thin prior (prior_strength a few
    votes) and that few honest votes exist to out-vote the attackers."""
    b = _Builder(world, rng, budget_share, engine)
    c = b.ctx
    hv = c.honest_votes
    cand = np.flatnonzero((hv >= honest_range[0]) & (hv <= honest_range[1]))
    cand = cand[np.argsort(-world.truth[cand], kind="stable")]
    sink = cand[:n_targets]
    ids = b.new_accounts(b.accounts_for(share), *age)
    b.camouflage(ids, rng.integers(camo[0], camo[1] + 1, len(ids)), window[0], 150, camo_mode, avoid=sink)
    _spread_strike(b, ids, sink, -1, posts_each, targets_each, *window)
    return b.finish(sink=sink)


def cap_sized(world, rng, share=0.043, age=(60, 400), camo=(20, 40), margin=1, n_push=10, n_sink=10, window=(0, 30),
              camo_mode="late", pretouch=None, engine=None, budget_share=0.15) -> World:
    """Every knob just under the engine's thresholds, read from the engine at run time: at most
    floor(voter_author_cap) votes per target, at most block min_hits - `margin` targets per account, and
    accounts sharing target posts in cells of at most min_co - `margin` co-votes: exploits fixed caps."""
    b = _Builder(world, rng, budget_share, engine)
    b.pretouch = pretouch
    th = b.th
    push, sink = _targets(b.ctx, rng, n_push, n_sink)
    ids = b.new_accounts(b.accounts_for(share), *age)
    b.camouflage(ids, rng.integers(camo[0], camo[1] + 1, len(ids)), window[0], 400, camo_mode,
                 avoid=np.concatenate([push, sink]))
    per_target = max(1, int(np.floor(th["voter_author_cap"] + 1e-9)))
    # co-votes with any other attacker stay below min_co: per_target * targets_each < min_co
    targets_each = max(1, min(int(th["block_min_hits"]) - margin, (int(th["min_co"]) - margin) // per_target))
    half = len(ids) // 2
    _spread_strike(b, ids[:half], push, 1, per_target, targets_each, *window, cap_per_author=per_target)
    _spread_strike(b, ids[half:], sink, -1, per_target, targets_each, *window, cap_per_author=per_target)
    return b.finish(push=push, sink=sink)


def _supporters(c: _Ctx, targets, min_other: int):
    """Honest voters who upvoted the targets, with at least `min_other` votes on other authors."""
    d = c.d
    honest_vote = ~c.world.attacker[d.voter] if len(c.world.attacker) else np.ones(len(d), bool)
    on_t = np.isin(d.author, targets)
    sup = np.unique(d.voter[on_t & (d.value > 0) & honest_vote])
    other = np.bincount(d.voter[~on_t], minlength=c.V0)
    return sup[other[sup] >= min_other]


def framing(world, rng, share=0.027, per_copycat=2, link_copies=1, copy_frac=1.0, min_other=None,
            delay_days=None, age=(200, 600), n_targets=10, min_support=10, engine=None,
            budget_share=0.15) -> World:
    """The reverse attack: copycats replay honest supporters' public votes on OTHER authors (later in
    time), each copying `per_copycat` consecutive supporters of one chain (consecutive copycats overlap by
    one supporter; `link_copies` copycats per link for redundancy), so the detector links all the
    targets' honest supporters into one large group whose voice on the targets collapses. Copycats never
    vote on the targets. The chain is sorted by the supporters' vote counts so neighbours look alike to
    the MinHash candidates; a supporter needs enough votes elsewhere to pass the pairwise check
    (`min_other`, from the engine's post_threshold). Each copy follows its original by `delay_days`
    (default: within the detector's `lag`, so that an engine which links only mutual pairs, where
    neither voted first by more than `lag`, still sees a mutual pair; "past_window": just past the
    `block_window` in which the block pass ranks its members' votes, so no copy is near its original). Targets: strong authors with at least `min_support`
    linkable supporters, the fewest first. Exploits co-voting as the only group evidence (a copy is
    indistinguishable from a clique)."""
    b = _Builder(world, rng, budget_share, engine)
    c, d = b.ctx, world.data
    lag = float(b.th.get("lag", 0.0))
    if delay_days == "past_window":  # just past the window in which the block pass ranks members' votes
        win = min(float(b.th.get("block_window", DAY)), 30 * DAY)
        lo_d, hi_d = 1.1 * win / DAY, 2.0 * win / DAY
    else:
        lo_d, hi_d = delay_days if delay_days is not None else ((0.1 * lag or 120.0) / DAY, (0.9 * lag or 3 * DAY) / DAY)
    per = max(2, int(per_copycat))
    copies = max(1, int(link_copies))
    n = b.accounts_for(share)
    capacity = (n // copies) * (per - 1) + 1
    if min_other is None:  # copied votes m of a supporter with ~2 target votes: m / (m + 2 + 10) >= post_threshold
        th = b.th.get("post_threshold", 0.4)
        min_other = max(int(b.th.get("min_co", 5)), int(np.ceil(th * 12 / max(1 - th, 1e-9))) + 1)
    _, strong = c.weak_strong()
    honest_vote = ~world.attacker[d.voter] if len(world.attacker) else np.ones(len(d), bool)
    total = np.bincount(d.voter, minlength=c.V0)
    sup_of = {}
    for a in strong:
        on = d.author == a
        vv = np.unique(d.voter[on & (d.value > 0) & honest_vote])
        on_a = np.bincount(d.voter[on], minlength=c.V0)
        sup_of[a] = vv[total[vv] - on_a[vv] >= min_other]  # enough votes elsewhere to copy
    cand = sorted((a for a in strong if len(sup_of[a]) >= min_support), key=lambda a: (len(sup_of[a]), rng.random()))
    targets, chain, seen = [], [], set()
    for a in cand:
        new = [h for h in sup_of[a].tolist() if h not in seen]
        if len(targets) >= n_targets or len(chain) + len(new) > capacity:
            continue
        targets.append(a)
        chain += new
        seen.update(new)
    targets = np.array(targets, np.int64)
    chain = np.array(chain, np.int64)
    not_t = ~np.isin(d.author, targets)
    m = np.bincount(d.voter[not_t], minlength=c.V0)
    chain = chain[np.argsort(m[chain], kind="stable")]
    windows = int(np.ceil((len(chain) - 1) / (per - 1))) if len(chain) > 1 else 0
    ids = b.new_accounts(min(n, windows * copies), *age)
    order = np.argsort(d.voter, kind="stable")
    vstart = np.searchsorted(d.voter[order], np.arange(c.V0 + 1))
    vs, ps, vals, ts = [], [], [], []
    for j, i in enumerate(ids):
        w_ = j // copies
        for h in chain[np.minimum(w_ * (per - 1) + np.arange(per), len(chain) - 1)]:
            idx = order[vstart[h]: vstart[h + 1]]
            idx = idx[not_t[idx]]
            if copy_frac < 1:
                idx = idx[rng.random(len(idx)) < copy_frac]
            vs.append(np.full(len(idx), i))
            ps.append(d.post[idx])
            vals.append(d.value[idx])
            ts.append(d.created[idx] + rng.uniform(lo_d, hi_d, len(idx)) * DAY)
    if vs and len(ids):
        v, p, val, t = (np.concatenate(x) for x in (vs, ps, vals, ts))
        newj = b.new_joined[-1]  # a copycat joined before it started copying
        tmin = np.full(len(ids), NOW)
        np.minimum.at(tmin, v - ids[0], t)
        newj[:] = np.minimum(newj, tmin - rng.uniform(1, 30, len(ids)) * DAY)
        b.add(v, p, val, np.minimum(t, NOW))
    return b.finish(sink=targets)


def discredit(world, rng, share=0.05, age=(60, 400), camo=(20, 40), camo_mode="early", votes_each=20, per_victim=10,
              delay_days=(0.0, 0.5), n_targets=10, min_support=10, engine=None, budget_share=0.15) -> World:
    """The reverse attack on records: accounts that earn records of their own (camouflage) vote against the
    targets' honest supporters on up to `per_victim` of each supporter's votes on OTHER authors, `delay_days`
    after them, so the consensus their predictions are judged against turns on them: their credibility, and
    with it their say on the targets, falls. Never votes on the targets (strong authors with at least
    `min_support` honest upvoters, the fewest first)."""
    b = _Builder(world, rng, budget_share, engine)
    c, d = b.ctx, world.data
    _, strong = c.weak_strong()
    honest_vote = ~world.attacker[d.voter] if len(world.attacker) else np.ones(len(d), bool)
    sup_of = {a: np.unique(d.voter[(d.author == a) & (d.value > 0) & honest_vote]) for a in strong}
    cand = sorted((a for a in strong if len(sup_of[a]) >= min_support), key=lambda a: (len(sup_of[a]), rng.random()))
    targets = np.array(cand[:n_targets], np.int64)
    if not len(targets):
        return b.finish(sink=targets)
    victims = np.unique(np.concatenate([sup_of[a] for a in targets]))
    # each victim's votes on other authors, up to per_victim of them, in random order
    sel = np.flatnonzero(np.isin(d.voter, victims) & ~np.isin(d.author, targets))
    sel = sel[rng.permutation(len(sel))]
    sel = sel[np.argsort(d.voter[sel], kind="stable")]
    rank = np.arange(len(sel)) - np.searchsorted(d.voter[sel], d.voter[sel], "left")
    sel = sel[rank < per_victim]
    ids = b.new_accounts(b.accounts_for(share), *age)
    if not len(ids) or not len(sel):
        return b.finish(sink=targets)
    b.camouflage(ids, rng.integers(camo[0], camo[1] + 1, len(ids)), 0.0, 150, camo_mode, avoid=targets)
    # votes_each opposing votes per account, spread round robin over the victims' votes
    total = len(ids) * int(votes_each)
    j = np.arange(total) % len(sel)
    v = ids[np.arange(total) // int(votes_each)]
    post, val = d.post[sel][j], -d.value[sel][j]
    t = d.created[sel][j] + rng.uniform(*delay_days, total) * DAY
    b.add(v, post, val.astype(np.int8), np.minimum(t, NOW))
    return b.finish(sink=targets)


def decoys(world, rng, share=0.11, votes_each=(20, 40), axis="orthogonal", split=0.5, age=(60, 500),
           author_share=0.5, engine=None, budget_share=0.15) -> World:
    """Two halves of decoys voting opposite ways over two author sets, so the engine's one-factor
    viewpoint axis (bridging) fits them instead of the real camps: exploits an axis fitted from votes
    anyone can cast. "orthogonal" splits each inferred camp in two, "camp" follows the inferred camps,
    "random" ignores them. The camps are inferred from public votes (the engine's own fit), not the truth."""
    b = _Builder(world, rng, budget_share, engine)
    c, d = b.ctx, world.data
    engine = engine or get_engine()
    cred, _ = engine.fit(d, NOW)
    side = np.zeros(c.V0)
    side[cred.voter_ids] = cred.side
    load = np.bincount(d.author, d.value * side[d.voter], c.A) / np.maximum(np.bincount(d.author, minlength=c.A), 1)
    camp = load > np.median(load[np.bincount(d.author, minlength=c.A) > 0]) if len(d) else np.zeros(c.A, bool)
    active = np.flatnonzero(np.bincount(d.author, minlength=c.A) > 0)
    active = active[rng.random(len(active)) < author_share] if author_share < 1 else active
    if axis == "camp":
        s1 = camp[active]
    elif axis == "orthogonal":
        s1 = np.zeros(len(active), bool)
        for g in (True, False):
            m = np.flatnonzero(camp[active] == g)
            s1[m[rng.permutation(len(m))[: len(m) // 2]]] = True
    else:
        s1 = rng.random(len(active)) < 0.5
    set1, set2 = active[s1], active[~s1]
    ids = b.new_accounts(b.accounts_for(share), *age)
    k = int(round(split * len(ids)))
    pool = np.concatenate([b.ctx.target_posts(set1), b.ctx.target_posts(set2)])
    in1 = np.zeros(c.A, bool)
    in1[set1] = True
    n_each = rng.integers(votes_each[0], votes_each[1] + 1, len(ids))
    b.camouflage(ids, n_each, 0, 150, "late", pool=pool)
    # turn the camouflage into the decoys' pattern: half A up on set 1, down on set 2; half B reversed
    v, p, _val, t = b.parts.pop()
    a_half = v < ids[0] + k if len(ids) else np.zeros(len(v), bool)
    up = in1[c.post_author[p]] == a_half
    b.add(v, p, np.where(up, 1, -1), t)
    return b.finish()


def slow_drip(world, rng, share=0.09, age=(100, 600), camo=(20, 40), n_targets=4, per_target=2, targets_each=4,
              days=60.0, camo_mode="late", pretouch=None, engine=None, budget_share=0.15) -> World:
    """Aged crowd-followers adding a couple of upvotes on a few targets, spread over two months:
    exploits detectors that look for bursts and the per-voter cap that lets 2 votes count fully."""
    b = _Builder(world, rng, budget_share, engine)
    b.pretouch = pretouch
    push, _ = _targets(b.ctx, rng, n_targets, 0)
    ids = b.new_accounts(b.accounts_for(share), *age)
    b.camouflage(ids, rng.integers(camo[0], camo[1] + 1, len(ids)), 0, 150, camo_mode, avoid=push)
    _spread_strike(b, ids, push, 1, per_target, targets_each, 0, days)
    return b.finish(push=push)


def sybil(world, rng, share=0.05, age=(0, 3), cover=0.8, window=(0, 0.5), n_push=10, n_sink=10, camo=0,
          leaders=0.0, engine=None, budget_share=0.15) -> World:
    """Fresh accounts striking densely (the classic): tests the age ramp and the groups."""
    b = _Builder(world, rng, budget_share, engine)
    b.leaders = leaders
    push, sink = _targets(b.ctx, rng, n_push, n_sink)
    ids = b.new_accounts(b.accounts_for(share), *age)
    if camo:
        b.camouflage(ids, camo, 0, age[1], "late", delay_days=0.0, avoid=np.concatenate([push, sink]))
    _dense_strike(b, ids, push, 1, cover, *window)
    _dense_strike(b, ids, sink, -1, cover, *window)
    return b.finish(push=push, sink=sink)


def camouflaged(world, rng, share=0.05, age=(200, 600), camo=30, cover=0.7, window=(0, 3), n_push=10, n_sink=10,
                camo_mode="late", pretouch=None, leaders=0.0, engine=None, budget_share=0.15) -> World:
    """Aged accounts that copy the visible crowd, then strike densely (the classic)."""
    b = _Builder(world, rng, budget_share, engine)
    b.pretouch, b.leaders = pretouch, leaders
    push, sink = _targets(b.ctx, rng, n_push, n_sink)
    ids = b.new_accounts(b.accounts_for(share), *age)
    b.camouflage(ids, camo, window[1], 150, camo_mode, avoid=np.concatenate([push, sink]))
    _dense_strike(b, ids, push, 1, cover, *window)
    _dense_strike(b, ids, sink, -1, cover, *window)
    return b.finish(push=push, sink=sink)


def brigade(world, rng, share=0.05, min_votes=10, cover=0.8, window=(0, 5), n_sink=10, targets_each=None,
            pretouch=None, engine=None, budget_share=0.15) -> World:
    """Existing honest active accounts (taken over or recruited) downvote strong targets (the classic)."""
    b = _Builder(world, rng, budget_share, engine)
    b.pretouch = pretouch
    c = b.ctx
    _, sink = _targets(c, rng, 0, n_sink)
    pool = c.honest_voters[c.votes_per_voter[c.honest_voters] >= min_votes]
    ids = b.take_over(_pick(rng, pool, int(round(share * c.V0))))
    if targets_each:
        _spread_strike(b, ids, sink, -1, 3, targets_each, *window)
    else:
        _dense_strike(b, ids, sink, -1, cover, *window)
    return b.finish(sink=sink)


def ring(world, rng, n_ring=30, camo=20, cover=0.9, window=(0, 30), age=(100, 600), extra_share=0.0, camo_mode="late",
         engine=None, budget_share=0.15) -> World:
    """A reciprocal ring of owned authors: each owner account upvotes the other members (the classic);
    `extra_share` adds unowned helper accounts voting for the ring the same way."""
    b = _Builder(world, rng, budget_share, engine)
    c = b.ctx
    eligible = np.flatnonzero(c.honest_votes >= 8)
    order = eligible[np.argsort(world.truth[eligible], kind="stable")]
    push = _pick(rng, order[: len(order) // 2], n_ring)
    ids = b.new_accounts(len(push), *age)
    push = push[: len(ids)]
    b.camouflage(ids, camo, window[1], 150, camo_mode, avoid=push)
    b.owned_author, b.owner_voter = push.astype(np.int64), ids.astype(np.int64)
    for i, a in zip(ids, push):
        _dense_strike(b, [i], push[push != a], 1, cover, *window)
    if extra_share > 0:
        helpers = b.new_accounts(b.accounts_for(extra_share), *age)
        b.camouflage(helpers, camo, window[1], 150, camo_mode, avoid=push)
        _spread_strike(b, helpers, push, 1, 2, 1, *window)
    return b.finish(push=push)


def under_threshold(world, rng, share=0.095, age=(200, 600), camo=60, cover=0.12, window=(0, 60), n_push=10,
                    n_sink=10, camo_mode="late", pretouch=None, leaders=0.0, engine=None, budget_share=0.15) -> World:
    """Each account hits a random few target posts (the classic sized under a co-vote threshold)."""
    b = _Builder(world, rng, budget_share, engine)
    b.pretouch, b.leaders = pretouch, leaders
    push, sink = _targets(b.ctx, rng, n_push, n_sink)
    ids = b.new_accounts(b.accounts_for(share), *age)
    b.camouflage(ids, camo, 0, 150, camo_mode, avoid=np.concatenate([push, sink]))
    _dense_strike(b, ids, push, 1, cover, *window)
    _dense_strike(b, ids, sink, -1, cover, *window)
    return b.finish(push=push, sink=sink)


# ---- found by reading the engine as an attacker --------------------------------------------------
def group_overflow(world, rng, share=0.15, copies_each=1, cover=0.6, window=(0, 3), age=(100, 600), n_push=10,
                   n_sink=10, min_other=6, delay_days=None, camo=10, camo_mode="early", pretouch=(20, 120),
                   engine=None, budget_share=0.15) -> World:
    """A dense strike whose co-voting component is made larger than `max_group_share` of all voters by
    linking honest voters into it (each attacker also replays `copies_each` honest voters' histories,
    by default within the detector's `lag` so the pairs count as mutual): exploits the detector's rule
    that a component that large is "the crowd itself" and is no group. `camo` predictions ("early")
    earn the accounts a record first, and `pretouch` casts each account's first vote on each target
    weeks early so the strike is no burst on new authors."""
    b = _Builder(world, rng, budget_share, engine)
    b.pretouch = pretouch
    c, d = b.ctx, world.data
    lag = float(b.th.get("lag", 0.0))
    lo_d, hi_d = delay_days if delay_days is not None else ((0.1 * lag or 0.05 * DAY) / DAY, (0.9 * lag or 2 * DAY) / DAY)
    push, sink = _targets(c, rng, n_push, n_sink)
    ids = b.new_accounts(b.accounts_for(share), *age)
    other = np.bincount(d.voter[~np.isin(d.author, np.concatenate([push, sink]))], minlength=c.V0)
    pool = c.honest_voters[(other[c.honest_voters] >= min_other) & (other[c.honest_voters] <= 60)]
    pool = rng.permutation(pool)
    order = np.argsort(d.voter, kind="stable")
    vstart = np.searchsorted(d.voter[order], np.arange(c.V0 + 1))
    tset = np.concatenate([push, sink])
    vs, ps, vals, ts = [], [], [], []
    for j, i in enumerate(ids):
        for h in pool[(j * copies_each + np.arange(copies_each)) % max(len(pool), 1)] if len(pool) else []:
            idx = order[vstart[h]: vstart[h + 1]]
            idx = idx[~np.isin(d.author[idx], tset)]
            vs.append(np.full(len(idx), i))
            ps.append(d.post[idx])
            vals.append(d.value[idx])
            ts.append(d.created[idx] + rng.uniform(lo_d, hi_d, len(idx)) * DAY)
    if vs:
        b.add(*(np.concatenate(x) for x in (vs, ps, vals, ts)))
    if camo:
        b.camouflage(ids, camo, window[1], 150, camo_mode, avoid=tset)
    half = len(ids) // 2
    _dense_strike(b, ids[:half], push, 1, cover, *window)
    _dense_strike(b, ids[half:], sink, -1, cover, *window)
    return b.finish(push=push, sink=sink)


def thin_push(world, rng, share=0.03, age=(30, 300), camo=(15, 30), honest_range=(3, 10), posts_each=2,
              targets_each=1, window=(0, 14), n_targets=10, camo_mode="late", pretouch=None, engine=None,
              budget_share=0.15) -> World:
    """Upvotes for weak authors with few honest votes: exploits the small prior (prior_strength) and the
    thin honest evidence (the mirror of sink_new: a handful of full-weight votes dominates)."""
    b = _Builder(world, rng, budget_share, engine)
    b.pretouch = pretouch
    c = b.ctx
    hv = c.honest_votes
    cand = np.flatnonzero((hv >= honest_range[0]) & (hv <= honest_range[1]))
    cand = cand[np.argsort(world.truth[cand], kind="stable")]
    push = _pick(rng, cand[: max(n_targets, len(cand) // 3)], n_targets)
    ids = b.new_accounts(b.accounts_for(share), *age)
    b.camouflage(ids, rng.integers(camo[0], camo[1] + 1, len(ids)), window[0], 150, camo_mode, avoid=push)
    _spread_strike(b, ids, push, 1, posts_each, targets_each, *window)
    return b.finish(push=push)


def early_bird(world, rng, share=0.08, age=(60, 400), camo=(20, 40), posts_each=2, targets_each=1, window=(0, 30),
               n_push=10, n_sink=10, engine=None, budget_share=0.15) -> World:
    """Camouflage cast within hours of each post appearing, predicted from its author's visible record
    (no peeking at the post's crowd): looks predictive to any defense that credits only early votes
    (Community Notes' valid ratings), then a thin strike. Exploits competence judged by agreement alone."""
    b = _Builder(world, rng, budget_share, engine)
    push, sink = _targets(b.ctx, rng, n_push, n_sink)
    ids = b.new_accounts(b.accounts_for(share), *age)
    b.camouflage(ids, rng.integers(camo[0], camo[1] + 1, len(ids)), window[0], 400, "early",
                 avoid=np.concatenate([push, sink]))
    half = len(ids) // 2
    _spread_strike(b, ids[:half], push, 1, posts_each, targets_each, *window)
    _spread_strike(b, ids[half:], sink, -1, posts_each, targets_each, *window)
    return b.finish(push=push, sink=sink)


def side_amplify(world, rng, share=0.05, age=(60, 400), camo=(20, 40), posts_each=2, targets_each=1, camo_mode="late",
                 window=(0, 14), n_targets=10, engine=None, budget_share=0.15) -> World:
    """Bridging counts each viewpoint side equally, so on an author the other side barely votes on, a
    few votes from that side move half the score: the attackers copy the crowd of the side that is thin
    on the targets (so the engine places them there), then upvote the targets. Exploits the two-sided
    blend's thin side (shrunk with only side_prior * prior_strength)."""
    b = _Builder(world, rng, budget_share, engine)
    c, d = b.ctx, world.data
    engine = engine or get_engine()
    push, _ = _targets(c, rng, n_targets, 0)
    cred, _ = engine.fit(d, NOW)
    side = np.zeros(c.V0)
    side[cred.voter_ids] = cred.side
    # the side the targets' voters lean to; the attackers join the other one
    on_t = np.isin(d.author, push)
    lean = float(np.sign(side[d.voter[on_t]].mean())) if on_t.any() else 1.0
    lean = lean or 1.0
    other_voters = np.flatnonzero(side * lean < -0.3)
    pool = np.unique(d.post[np.isin(d.voter, other_voters) & ~on_t])
    ids = b.new_accounts(b.accounts_for(share), *age)
    b.camouflage(ids, rng.integers(camo[0], camo[1] + 1, len(ids)), window[0], 150, camo_mode, avoid=push,
                 pool=pool if len(pool) else None)
    # copy that side's majority (the side's own visible votes, not the whole crowd's)
    if len(pool) and b.parts and camo_mode != "early":
        v, p, _val, t = b.parts.pop()
        sel = np.isin(d.voter, other_voters)
        crowd = _Crowd(d.post[sel], d.created[sel], d.value[sel])
        b.add(v, p, crowd.majority(p, t, rng), t)
    _spread_strike(b, ids, push, 1, posts_each, targets_each, *window)
    return b.finish(push=push)


FAMILIES = {
    "thin_aged": thin_aged, "sleepers": sleepers, "bought": bought, "sink_new": sink_new, "cap_sized": cap_sized,
    "framing": framing, "discredit": discredit, "decoys": decoys, "slow_drip": slow_drip, "sybil": sybil, "camouflaged": camouflaged,
    "brigade": brigade, "ring": ring, "under_threshold": under_threshold, "group_overflow": group_overflow,
    "thin_push": thin_push, "early_bird": early_bird, "side_amplify": side_amplify,
}
# Families that need a polarized honest world.
POLARIZED = {"decoys", "side_amplify"}
