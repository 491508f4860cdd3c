"""A second simulated voting world, built from a different model of honest behaviour.

`sim.py` draws a static world: each author has one fixed quality, and voters pick posts
by a popularity bias, with no notion of when anything happened. This generator is written
independently of it (from `world.py` only) and models a feed that unfolds in time:

* Time. A 180-day window ending at NOW. Each author publishes posts as a Poisson process
  whose rate is heavy-tailed (a few prolific authors, many who post once or twice).
* Quality drifts. An author's latent quality is a long-run level plus an Ornstein-Uhlenbeck
  drift (reverting over about 45 days); a post's quality is the author's quality at the moment
  of publication plus post noise.
* Audience. Each author has a log-normal follower count, only weakly tied to quality; a few
  authors (more often weak ones) bought followers, which inflate the count and part of the reach
  with no quality behind them. A post's attention weight (`post_popularity`) is the author's
  reach to a sub-linear power times a per-post virality factor (good posts spread a little more).
* Voters arrive over time: long-standing accounts (joined up to three years before the window)
  and a stream of newcomers joining inside it; some churn and stop voting. A voter's number of
  votes is heavy-tailed and grows with the time it was active (a few cast hundreds, most a
  handful, some exactly one), and the votes come in sessions (bursts minutes apart).
* Freshness. At a vote's time the voter picks among the posts published before it with
  probability proportional to attention times a decay in the post's age: mostly an exponential
  with a 1.2-day half-life, with a small 30-day tail of old posts found later. Every vote is
  after its post's creation and after the voter joined; one vote per (voter, post).
* Judgement. A voter upvotes with probability sigmoid(care * (post quality - leniency) +
  partisan term), care and leniency differing between voters (some careless). Lazy voters, with
  a personal probability, instead vote with the visible majority of the votes already on the
  post (herding: votes are settled in time order per post). Votes are +1 / -1.
* Camps (`polarized=True`): three camps of unequal size (55/30/15 of the partisan voters and of
  the camp authors; a third of the voters and 40% of the authors belong to no camp) with
  different strength: camp 0 (the larger) reads its own authors a lot and boosts them, camp 1
  barely does either, camp 2 (small) is the most partisan. A partisan voter also discounts the
  other camps' authors and looks at them less. `author_camp` is 0/1/2 by camp, -1 for authors
  in no camp (the metric uses `author_camp == 0`, the larger camp). Honest worlds without camps
  have `author_camp = None`.
* Truth. Per author, the up-share an average non-partisan careful honest voter (reference care,
  leniency averaged over the honest population, no herding) would give the author's posts,
  averaged over the author's posts in the window, with each post's quality taken at its time.

Scenarios: "clean", "polarized", and "noise" (the clean world plus 10% extra voters who pick
posts like everyone else but vote up or down at random; they are marked `attacker`, appended
after the honest voters, drawn from a separate random stream, and do not sway the herding).
The same seed gives the same world.
"""

from __future__ import annotations

import numpy as np

from reputation.engine import VoteData

from .world import DAY, NOW, World

WINDOW = 180 * DAY
T0 = NOW - WINDOW

SIZES = {
    "small": {"authors": 800, "voters": 2500, "votes_per_voter": 25.0},
    "medium": {"authors": 3000, "voters": 9000, "votes_per_voter": 25.0},
}

# Attention decay in a post's age: mixture of exponentials (share, half-life).
DECAY = ((0.88, 1.2 * DAY), (0.12, 30.0 * DAY))
# Camps: share of partisan voters / camp authors, bias strength, attention homophily.
CAMP_SHARE = np.array([0.55, 0.30, 0.15])
CAMP_BIAS = np.array([1.1, 0.25, 1.5])
CAMP_HOMOPHILY = np.array([1.3, 0.3, 1.1])
PARTISAN_VOTERS = 0.65
CAMP_AUTHORS = 0.60
# Voter judgement.
LENIENCY_MU, LENIENCY_SD = -0.35, 0.6
REF_CARE = 2.0  # the reference careful voter the truth is defined by
DUPLICATE_ROUNDS = 8


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _authors(rng, A):
    """Long-run quality, activity, followers (real, bought) and reach per author."""
    level = rng.normal(0.0, 0.85, A)
    rate = np.exp(rng.normal(np.log(4.0), 1.1, A))  # expected posts in the window, heavy-tailed
    real = np.exp(rng.normal(np.log(150.0) + 0.25 * level + 0.3 * np.log(rate / 4.0), 1.4, A))
    bought = np.zeros(A)
    p_buy = 0.12 * _sigmoid(-1.5 * level)  # weak authors buy more often
    buyer = rng.random(A) < p_buy
    bought[buyer] = real[buyer] * np.exp(rng.uniform(np.log(3.0), np.log(30.0), buyer.sum()))
    followers = np.round(real + bought)
    reach = real + 0.3 * bought
    return level, rate, followers, reach


def _posts(rng, A, level, rate, reach):
    """Posts sorted by creation time: author, time, quality, attention weight."""
    n = 1 + rng.poisson(np.minimum(rate, 300.0))
    author = np.repeat(np.arange(A), n)
    created = T0 + rng.random(len(author)) * WINDOW
    # OU drift of each author's quality on a daily grid, read at each post's day.
    days = int(WINDOW / DAY) + 1
    tau, sd = 45.0, 0.6
    a = np.exp(-1.0 / tau)
    shocks = rng.normal(0.0, sd * np.sqrt(1 - a * a), (days, A))
    drift = np.empty((days, A))
    drift[0] = rng.normal(0.0, sd, A)
    for d in range(1, days):
        drift[d] = a * drift[d - 1] + shocks[d]
    day = np.minimum(((created - T0) / DAY).astype(np.int64), days - 1)
    quality = level[author] + drift[day, author] + rng.normal(0.0, 0.7, len(author))
    virality = np.exp(rng.normal(0.0, 0.5, len(author)) + 0.25 * quality)
    weight = reach[author] ** 0.7 * virality
    order = np.argsort(created, kind="stable")
    return author[order], created[order], quality[order], weight[order] / weight.mean()


def _voters(rng, V, mean_votes):
    """Join time, active span and vote count per voter."""
    old = rng.random(V) < 0.45
    joined = np.where(old, T0 - rng.uniform(1 * DAY, 3 * 365 * DAY, V), T0 + rng.random(V) ** 0.8 * (WINDOW - DAY))
    start = np.maximum(joined, T0)
    churn = rng.random(V) < 0.25
    end = np.where(churn, start + rng.random(V) * (NOW - start), NOW)
    end = np.maximum(end, np.minimum(start + 0.5 * DAY, NOW))
    span = (end - start) / DAY
    raw = np.exp(rng.normal(0.0, 1.2, V)) * span
    drive_by = rng.random(V) < 0.05
    scale = mean_votes * V / raw[~drive_by].sum()
    n = np.maximum(rng.poisson(raw * scale), 1)
    n[drive_by] = 1
    return joined, start, end, np.minimum(n, 1200)


def _vote_times(rng, n, start, end):
    """Vote times in sessions: a few votes minutes apart, sessions spread over the active span."""
    V = len(n)
    per_session = 1 + rng.poisson(3.0, V)
    m = np.maximum(1, np.round(n / per_session)).astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(m)[:-1]])
    voter = np.repeat(np.arange(V), n)
    s_voter = np.repeat(np.arange(V), m)
    s_time = start[s_voter] + rng.random(len(s_voter)) * (end - start)[s_voter]
    session = offset[voter] + rng.integers(0, m[voter])
    t = s_time[session] + rng.exponential(8 * 60.0, len(voter))
    return voter, np.minimum(t, NOW - 1.0)


class _Chooser:
    """Draws, for a vote at time t by a voter of attention group g, a post published before t
    with probability ∝ weight * affinity[g, camp] * decay(t - created), exactly: each decay
    component is exponential, so a post's weight factors into exp(lam * (created - NOW)) times
    a term in t alone, and a cumulative sum over posts sorted by time serves every t."""

    def __init__(self, created, weight, affinity):  # affinity: (groups, posts)
        self.created = created
        self.lam = np.array([np.log(2) / h for _, h in DECAY])
        self.logpi = np.log([p for p, _ in DECAY])
        self.cum = [
            [np.cumsum(weight * affinity[g] * np.exp(lam * (created - NOW))) for lam in self.lam]
            for g in range(affinity.shape[0])
        ]

    def draw(self, rng, t, group):
        n = np.searchsorted(self.created, t, side="left")  # posts created strictly before t
        assert (n >= 1).all()
        post = np.empty(len(t), np.int64)
        for g in range(len(self.cum)):
            sel = np.flatnonzero(group == g)
            if not len(sel):
                continue
            tot = np.stack([c[n[sel] - 1] for c in self.cum[g]])  # (K, m)
            logs = self.logpi[:, None] + np.log(self.lam)[:, None] + self.lam[:, None] * (NOW - t[sel]) + np.log(tot)
            p = np.exp(logs - logs.max(0))
            k = np.minimum((p.cumsum(0) / p.sum(0) < rng.random(len(sel))).sum(0), len(self.lam) - 1)
            for kk in range(len(self.lam)):
                s2 = sel[k == kk]
                c = self.cum[g][kk]
                u = rng.random(len(s2)) * c[n[s2] - 1]
                post[s2] = np.minimum(np.searchsorted(c, u, side="right"), n[s2] - 1)
        return post


def _choose_posts(rng, chooser, voter, t, group, n_posts):
    """Post per vote, redrawing (voter, post) duplicates; a vote still duplicated is dropped."""
    post = chooser.draw(rng, t, group)
    for _ in range(DUPLICATE_ROUNDS):
        _, first = np.unique(voter * n_posts + post, return_index=True)
        dup = np.ones(len(post), bool)
        dup[first] = False
        if not dup.any():
            break
        post[dup] = chooser.draw(rng, t[dup], group[dup])
    _, first = np.unique(voter * n_posts + post, return_index=True)
    keep = np.zeros(len(post), bool)
    keep[first] = True
    return post, keep


def _truth(author, quality, A):
    """Mean over each author's posts of the up-probability of a careful non-partisan voter,
    leniency averaged over the honest population (Gauss-Hermite)."""
    x, w = np.polynomial.hermite_e.hermegauss(24)
    w = w / w.sum()
    theta = LENIENCY_MU + LENIENCY_SD * x
    up = (_sigmoid(REF_CARE * (quality[:, None] - theta[None, :])) * w).sum(1)
    return np.bincount(author, up, A) / np.bincount(author, minlength=A)


def honest_world(seed: int, size: str = "small", polarized: bool = False) -> World:
    cfg = SIZES[size]
    A, V = cfg["authors"], cfg["voters"]
    rng = np.random.default_rng([seed, 2, int(polarized)])

    level, rate, followers, reach = _authors(rng, A)
    p_author, p_created, p_quality, p_weight = _posts(rng, A, level, rate, reach)
    P = len(p_author)

    joined, start, end, n_votes = _voters(rng, V, cfg["votes_per_voter"])
    # Care: most voters attentive (log-normal around 1.6), 15% careless.
    care = np.where(rng.random(V) < 0.15, rng.uniform(0.1, 0.5, V), np.exp(rng.normal(np.log(1.6), 0.4, V)))
    leniency = rng.normal(LENIENCY_MU, LENIENCY_SD, V)
    lazy = np.where(rng.random(V) < 0.5, 0.0, rng.uniform(0.15, 0.7, V))

    K = len(CAMP_SHARE)
    if polarized:
        v_camp = np.where(rng.random(V) < PARTISAN_VOTERS, rng.choice(K, V, p=CAMP_SHARE), -1)
        a_camp = np.where(rng.random(A) < CAMP_AUTHORS, rng.choice(K, A, p=CAMP_SHARE), -1)
        strength = np.where(v_camp >= 0, rng.gamma(3.0, 1 / 3.0, V), 0.0)  # individual partisanship, mean 1
    else:
        v_camp = np.full(V, -1)
        a_camp = np.full(A, -1)
        strength = np.zeros(V)
    # Attention groups: one per camp, the last for non-partisan voters.
    pc = a_camp[p_author]
    affinity = np.ones((K + 1, P))
    for g in range(K):
        h = CAMP_HOMOPHILY[g]
        affinity[g] = np.where(pc == g, np.exp(h), np.where(pc >= 0, np.exp(-0.5 * h), 1.0))
    group = np.where(v_camp >= 0, v_camp, K)

    voter, t = _vote_times(rng, n_votes, start, end)
    t = np.where(t <= p_created[0], p_created[0] + 60.0 + rng.exponential(3600.0, len(t)), t)
    chooser = _Chooser(p_created, p_weight, affinity)
    post, keep = _choose_posts(rng, chooser, voter, t, group[voter], P)
    voter, t, post = voter[keep], t[keep], post[keep]

    # Own judgement, then herding settled in time order within each post.
    author = p_author[post]
    vc, ac = v_camp[voter], a_camp[author]
    side = np.where((vc >= 0) & (ac >= 0), np.where(vc == ac, 1.0, -0.8), 0.0)
    partisan = side * strength[voter] * np.where(vc >= 0, CAMP_BIAS[np.maximum(vc, 0)], 0.0)
    p_up = _sigmoid(care[voter] * (p_quality[post] - leniency[voter]) + partisan)
    own = np.where(rng.random(len(post)) < p_up, 1, -1).astype(np.int64)
    herd = rng.random(len(post)) < lazy[voter]
    order = np.lexsort((t, post))
    voter, t, post, author, own, herd = (x[order] for x in (voter, t, post, author, own, herd))
    first = np.searchsorted(post, post, side="left")
    rank = np.arange(len(post)) - first
    value = own.copy()
    net = np.zeros(P, np.int64)
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(rank.max(initial=-1) + 2))
    for r in range(len(bounds) - 1):
        idx = by_rank[bounds[r] : bounds[r + 1]]
        nv = net[post[idx]]
        v = np.where(herd[idx] & (nv != 0), np.sign(nv), own[idx])
        value[idx] = v
        net[post[idx]] += v

    data = VoteData(
        voter=voter.astype(np.int64),
        author=author.astype(np.int64),
        post=post.astype(np.int64),
        value=value.astype(np.int8),
        created=t.astype(np.float64),
        voter_ids=np.arange(V, dtype=np.int64),
        voter_joined=joined.astype(np.float64),
    )
    return World(
        data=data,
        truth=_truth(p_author, p_quality, A),
        followers=followers,
        honest_votes=np.bincount(author, minlength=A),
        attacker=np.zeros(V, bool),
        author_camp=a_camp if polarized else None,
        post_author=p_author.astype(np.int64),
        post_created=p_created,
        post_popularity=p_weight,
    )


def _add_noise(world: World, seed: int, share: float = 0.10) -> World:
    """Append random voters: they choose posts like non-partisan honest voters, vote 50/50."""
    rng = np.random.default_rng([seed, 3])
    d = world.data
    V0, P = len(d.voter_ids), len(world.post_author)
    V = max(1, round(share * V0))
    mean_votes = len(d) / V0
    joined, start, end, n_votes = _voters(rng, V, mean_votes)
    voter, t = _vote_times(rng, n_votes, start, end)
    created = world.post_created
    t = np.where(t <= created[0], created[0] + 60.0 + rng.exponential(3600.0, len(t)), t)
    chooser = _Chooser(created, world.post_popularity, np.ones((1, P)))
    post, keep = _choose_posts(rng, chooser, voter, t, np.zeros(len(t), np.int64), P)
    voter, t, post = voter[keep], t[keep], post[keep]
    value = np.where(rng.random(len(post)) < 0.5, 1, -1).astype(np.int8)
    data = VoteData(
        voter=np.concatenate([d.voter, voter + V0]),
        author=np.concatenate([d.author, world.post_author[post]]),
        post=np.concatenate([d.post, post]),
        value=np.concatenate([d.value, value]),
        created=np.concatenate([d.created, t]),
        voter_ids=np.arange(V0 + V, dtype=np.int64),
        voter_joined=np.concatenate([d.voter_joined, joined]),
    )
    return World(
        data=data,
        truth=world.truth,
        followers=world.followers,
        honest_votes=world.honest_votes,
        attacker=np.concatenate([world.attacker, np.ones(V, bool)]),
        author_camp=world.author_camp,
        post_author=world.post_author,
        post_created=world.post_created,
        post_popularity=world.post_popularity,
        budget_accounts=V,
    )


def make_world(scenario: str, seed: int, size: str = "small") -> World:
    if scenario == "clean":
        return honest_world(seed, size)
    if scenario == "polarized":
        return honest_world(seed, size, polarized=True)
    if scenario == "noise":
        return _add_noise(honest_world(seed, size), seed)
    raise ValueError(f"unknown scenario for sim2: {scenario!r} (clean, noise, polarized)")
