"""A simulated voting world with a hidden truth, and the attacks we expect.

Authors have a hidden quality; their posts scatter around it. Honest voters of
varying care (slope) and leniency (threshold) see posts with a popularity bias
and upvote with probability sigmoid(care * (post quality - leniency)). An
author's truth is the up-share an average honest voter would give their posts,
so it lives on the same 0-1 scale as the engine's score.

The honest world and the attack draw from separate random streams, so the
same seed without the attack is exactly the clean world (target shifts compare
the two). Ids: authors 0..A-1, posts 0..P-1, voters 0..V-1 (attackers after
the honest voters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reputation.engine import VoteData

from .world import DAY, NOW, World

SIZES = {
    "small": {"n_authors": 800, "n_voters": 2500, "votes_per_voter": 25.0},
    "medium": {"n_authors": 3000, "n_voters": 9000, "votes_per_voter": 25.0},
}
ATTACKS = ["clean", "noise", "sybil", "camouflaged", "brigade", "slowdrip", "ring", "underthreshold", "polarized"]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class _Honest:
    rng: np.random.Generator
    n_authors: int
    n_voters: int
    votes_per_voter: float
    polarized: bool

    def build(self):
        rng, A, V = self.rng, self.n_authors, self.n_voters
        q = rng.normal(0, 1, A)
        z = 0.25 * q + np.sqrt(1 - 0.25**2) * rng.normal(0, 1, A)
        followers = np.exp(5 + 1.5 * z)
        bought = rng.random(A) < 0.05
        followers[bought] *= 20  # bought followers: no quality behind them
        n_posts = 1 + rng.poisson(4, A)
        post_author = np.repeat(np.arange(A), n_posts)
        P = len(post_author)
        post_q = q[post_author] + rng.normal(0, 0.4, P)
        pop = np.sqrt(followers[post_author]) * rng.lognormal(0, 0.7, P)

        age_days = 30 + rng.exponential(300, V)
        new = rng.random(V) < 0.08
        age_days[new] = rng.uniform(0, 20, new.sum())
        joined = NOW - age_days * DAY
        care = rng.uniform(0.5, 2.5, V)
        lenient = rng.normal(0, 0.6, V)
        k = np.clip(np.round(rng.lognormal(np.log(self.votes_per_voter) - 0.5, 1.0, V)), 1, 400).astype(np.int64)

        author_camp = voter_camp = None
        if self.polarized:
            author_camp = (rng.random(A) > 0.65).astype(np.int64)  # 0 = larger camp (65%)
            voter_camp = (rng.random(V) > 0.65).astype(np.int64)
        voter = np.repeat(np.arange(V), k)
        if self.polarized:
            post = np.empty(len(voter), np.int64)
            for c in (0, 1):
                sel = voter_camp[voter] == c
                w = pop * np.where(author_camp[post_author] == c, 2.5, 1.0)
                post[sel] = rng.choice(P, sel.sum(), p=w / w.sum())
        else:
            post = rng.choice(P, len(voter), p=pop / pop.sum())
        key = np.unique(voter * P + post)
        voter, post = key // P, key % P
        logit = care[voter] * (post_q[post] - lenient[voter])
        if self.polarized:
            same = voter_camp[voter] == author_camp[post_author[post]]
            logit = logit + np.where(same, 2.0, -2.0)
        value = np.where(rng.random(len(voter)) < _sigmoid(logit), 1, -1).astype(np.int8)
        start = np.maximum(joined[voter], NOW - 120 * DAY)
        created = start + rng.random(len(voter)) * (NOW - start)

        # Truth: what an average honest voter (no camp bias) gives this author's posts.
        s = rng.integers(0, V, 256)
        p_post = _sigmoid(care[s][None, :] * (post_q[:, None] - lenient[s][None, :])).mean(1)
        truth = np.bincount(post_author, p_post, A) / n_posts
        return {
            "q": q, "followers": followers, "post_author": post_author, "post_q": post_q, "pop": pop, "joined": joined,
            "voter": voter, "post": post, "value": value, "created": created, "truth": truth, "author_camp": author_camp,
        }


def make_world(scenario: str, seed: int, size: str = "small") -> World:
    cfg = SIZES[size]
    h = _Honest(np.random.default_rng([seed, 0]), polarized=scenario == "polarized", **cfg).build()
    rng = np.random.default_rng([seed, 1])
    A, P, V = cfg["n_authors"], len(h["post_author"]), cfg["n_voters"]
    honest_votes = np.bincount(h["post_author"][h["post"]], minlength=A)
    parts = [(h["voter"], h["post"], h["value"], h["created"])]
    joined = [h["joined"]]
    attacker = np.zeros(V, bool)
    push = sink = np.empty(0, np.int64)
    owner_author = owner_voter = np.empty(0, np.int64)

    eligible = np.flatnonzero(honest_votes >= 8)
    order = eligible[np.argsort(h["truth"][eligible])]
    third = len(order) // 3
    weak, strong = order[:third], order[-third:]
    posts_of = np.split(np.argsort(h["post_author"], kind="stable"), np.cumsum(np.bincount(h["post_author"], minlength=A))[:-1])

    def add_voters(n, age_lo, age_hi):
        nonlocal V, attacker
        ids = np.arange(V, V + n)
        joined.append(NOW - rng.uniform(age_lo, age_hi, n) * DAY)
        attacker = np.concatenate([attacker, np.ones(n, bool)])
        V += n
        return ids

    def crowd_votes(ids, n_each, t_lo, t_hi):
        """Camouflage: vote on popular posts the way the crowd does."""
        v = np.repeat(ids, n_each)
        p = rng.choice(P, len(v), p=h["pop"] / h["pop"].sum())
        val = np.where(rng.random(len(v)) < _sigmoid(1.5 * h["post_q"][p]), 1, -1).astype(np.int8)
        t = NOW - rng.uniform(t_lo, t_hi, len(v)) * DAY
        parts.append((v, p, val, t))

    def strike(ids, targets, sign, cover, t_lo, t_hi):
        tp = np.concatenate([posts_of[a] for a in targets]) if len(targets) else np.empty(0, np.int64)
        v = np.repeat(ids, len(tp))
        p = np.tile(tp, len(ids))
        keep = rng.random(len(v)) < cover
        v, p = v[keep], p[keep]
        t = NOW - rng.uniform(t_lo, t_hi, len(v)) * DAY
        parts.append((v, p, np.full(len(v), sign, np.int8), t))

    n_att = max(50, V // 20)  # about 5% of the honest population
    if scenario == "noise":
        ids = add_voters(V // 10, 30, 600)
        k = np.clip(np.round(rng.lognormal(np.log(cfg["votes_per_voter"]) - 0.5, 1.0, len(ids))), 1, 400).astype(np.int64)
        v = np.repeat(ids, k)
        p = rng.integers(0, P, len(v))
        parts.append((v, p, np.where(rng.random(len(v)) < 0.5, 1, -1).astype(np.int8), NOW - rng.uniform(0, 100, len(v)) * DAY))
    elif scenario in ("sybil", "camouflaged", "slowdrip", "underthreshold"):
        push = rng.choice(weak, 10, replace=False)
        sink = rng.choice(strong, 10, replace=False)
        if scenario == "sybil":
            ids = add_voters(n_att, 0, 3)
            strike(ids, push, 1, 0.8, 0, 0.5)
            strike(ids, sink, -1, 0.8, 0, 0.5)
        elif scenario == "camouflaged":
            ids = add_voters(n_att, 200, 600)
            crowd_votes(ids, 30, 10, 150)
            strike(ids, push, 1, 0.7, 0, 3)
            strike(ids, sink, -1, 0.7, 0, 3)
        elif scenario == "slowdrip":
            ids = add_voters(n_att, 200, 600)
            crowd_votes(ids, 40, 0, 150)
            strike(ids, push, 1, 0.3, 0, 60)
            strike(ids, sink, -1, 0.3, 0, 60)
        else:  # sized to stay under a co-vote threshold: each account hits few target posts
            ids = add_voters(2 * n_att, 200, 600)
            crowd_votes(ids, 60, 0, 150)
            strike(ids, push, 1, 0.12, 0, 60)
            strike(ids, sink, -1, 0.12, 0, 60)
    elif scenario == "brigade":
        active = np.flatnonzero(np.bincount(h["voter"], minlength=cfg["n_voters"]) >= 10)
        ids = rng.choice(active, min(len(active), n_att), replace=False)
        attacker[ids] = True
        sink = rng.choice(strong, 10, replace=False)
        strike(ids, sink, -1, 0.8, 0, 5)
    elif scenario == "ring":
        push = rng.choice(order[: len(order) // 2], 30, replace=False)
        ids = add_voters(len(push), 100, 600)
        crowd_votes(ids, 20, 10, 150)
        owner_author, owner_voter = push.copy(), ids.copy()
        for i, a in zip(ids, push):  # each owner upvotes every other ring member
            strike(np.array([i]), push[push != a], 1, 0.9, 0, 30)

    voter, post, value, created = (np.concatenate(x) for x in zip(*parts))
    _key, first = np.unique(voter * P + post, return_index=True)  # one vote per (voter, post), first wins
    voter, post, value, created = voter[first], post[first], value[first], created[first]
    joined = np.concatenate(joined)
    created = np.maximum(created, joined[voter] + 60)
    data = VoteData(
        voter=voter.astype(np.int64), author=h["post_author"][post].astype(np.int64), post=post.astype(np.int64),
        value=value, created=created, voter_ids=np.arange(V, dtype=np.int64), voter_joined=joined,
        owned_author=owner_author.astype(np.int64), owner_voter=owner_voter.astype(np.int64),
    )
    return World(data, h["truth"], h["followers"], honest_votes, attacker, push, sink, h["author_camp"],
                 post_author=h["post_author"].astype(np.int64), post_popularity=h["pop"],
                 budget_accounts=int(attacker.sum()))
