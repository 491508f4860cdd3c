"""The engine's defenses built on what an attacker cannot mint: time, records, continuity (no database)."""

import numpy as np

from reputation.engine import DAY, VoteData, get_engine

from .test_engine import NOW, score_of, world


def _append(data: VoteData, voter, author, post, value, created, new_ids=(), joined=(), solicited=None) -> VoteData:
    new_ids, joined = np.asarray(new_ids, np.int64), np.asarray(joined, float)
    added = np.zeros(len(voter), bool) if solicited is None else np.asarray(solicited, bool)
    sol = np.r_[data.solicited_mask(), added]
    return VoteData(
        voter=np.r_[data.voter, voter].astype(np.int64), author=np.r_[data.author, author].astype(np.int64),
        post=np.r_[data.post, post].astype(np.int64), value=np.r_[data.value, value].astype(np.int8),
        created=np.r_[data.created, created], voter_ids=np.r_[data.voter_ids, new_ids],
        voter_joined=np.r_[data.voter_joined, joined], solicited=sol,
    )


def _aged_accounts_upvoting(data, target, n, seed=0):
    """n accounts a year old, each upvoting one post of `target` yesterday: no record anywhere."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) + data.voter_ids.max() + 1
    posts = np.unique(data.post[data.author == target])
    return _append(data, ids, np.full(n, target), rng.choice(posts, n), np.ones(n), np.full(n, NOW - DAY),
                   ids, np.full(n, NOW - 365 * DAY))


def test_accounts_without_a_record_share_a_bounded_pool_on_each_author():
    """However many accounts an attacker makes, what they add to one author stops growing."""
    data, quality = world(seed=4)
    target = int(np.argmin(quality))
    engine = get_engine()
    base = engine.fit(data, NOW)[1]
    before = score_of(base, target)
    after = {n: engine.fit(_aged_accounts_upvoting(data, target, n), NOW)[1] for n in (30, 300, 3000)}
    scores = {n: score_of(s, target) for n, s in after.items()}
    assert scores[300] > before  # they do count, within the pool
    assert abs(scores[3000] - scores[300]) < 1.0  # ten times the accounts, the same effect
    b, i = np.searchsorted(base.author_ids, target), np.searchsorted(after[3000].author_ids, target)
    # What voters said in favour before, times (1 + pool_ratio), plus the floor, bounds what all the upvotes
    # count after (one vote-equivalent of slack: the refit re-learns everyone's credibility).
    assert after[3000].weight_up[i] <= base.weight_up[b] * (1 + engine.pool_ratio) + engine.pool_floor + 1.0
    pool = after[3000].explanations[i]["unproven_pool"]
    assert pool["held_back"] > 0.8 * pool["weight"]  # nearly all of it (the rest: honest unproven voters)
    assert after[3000].status[i] == "contested"


def test_a_solicited_vote_needs_no_record():
    """Merit chose the post, so the voter could not aim it: it counts outside the unproven pool."""
    data, quality = world(seed=4)
    target = int(np.argmin(quality))
    crowd = _aged_accounts_upvoting(data, target, 300)
    n = 300
    asked = _append(data, crowd.voter[len(data):], crowd.author[len(data):], crowd.post[len(data):],
                    crowd.value[len(data):], crowd.created[len(data):], crowd.voter_ids[len(data.voter_ids):],
                    crowd.voter_joined[len(data.voter_ids):], solicited=np.ones(n, bool))
    engine = get_engine()
    s_crowd, s_asked = engine.fit(crowd, NOW)[1], engine.fit(asked, NOW)[1]
    assert score_of(s_asked, target) > score_of(s_crowd, target) + 5
    i = np.searchsorted(s_crowd.author_ids, target)
    assert s_crowd.explanations[i]["unproven_pool"]["held_back"] > 0
    i = np.searchsorted(s_asked.author_ids, target)
    assert s_asked.explanations[i]["solicited"]["votes"] == n


def _copycats(data, supporters, n, target, seed=0):
    """n accounts that replay, days later, the supporters' public votes on other authors' posts
    (each copycat copies two supporters, so they would chain all of them into one component)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) + data.voter_ids.max() + 1
    vs, aus, ps, vals, ts = [], [], [], [], []
    for i, cid in enumerate(ids):
        for h in (supporters[i % len(supporters)], supporters[(i + 1) % len(supporters)]):
            mine = np.flatnonzero((data.voter == h) & (data.author != target))
            vs.append(np.full(len(mine), cid))
            aus.append(data.author[mine])
            ps.append(data.post[mine])
            vals.append(data.value[mine])
            ts.append(np.minimum(data.created[mine] + rng.uniform(1, 5, len(mine)) * DAY, NOW - 60))
    v, a, p, val, t = (np.concatenate(x) for x in (vs, aus, ps, vals, ts))
    _, first = np.unique(v * (int(data.post.max()) + 1) + p, return_index=True)
    return _append(data, v[first], a[first], p[first], val[first], t[first], ids, np.full(n, NOW - 400 * DAY))


def test_accounts_that_never_vote_on_an_author_cannot_lower_it_through_grouping():
    """Framing: copycats replay a target's honest supporters' histories (never voting on the target)
    so that a symmetric detector would merge the supporters into one group. The later copier is
    the suspect: the supporters stay ungrouped and the target keeps its score."""
    data, quality = world(seed=5, n_voters=300, n_authors=40, votes_each=25)
    target = int(np.argmax(quality))
    supporters = np.unique(data.voter[(data.author == target) & (data.value > 0)])
    framed = _copycats(data, supporters, 2 * len(supporters), target)
    assert not ((framed.author == target) & np.isin(framed.voter, framed.voter_ids[len(data.voter_ids):])).any()
    engine = get_engine()
    cred0, s0 = engine.fit(data, NOW)
    cred1, s1 = engine.fit(framed, NOW)
    assert score_of(s1, target) > score_of(s0, target) - 3
    # No group chains the supporters together (a symmetric detector put them all in one).
    g = cred1.group[np.searchsorted(cred1.voter_ids, supporters)]
    grouped = g[g >= 0]
    assert len(grouped) == 0 or np.bincount(np.unique(grouped, return_inverse=True)[1]).max() <= 5


def test_a_taken_over_account_does_not_carry_its_record_into_the_burst():
    """An established account that suddenly votes, within days, against the established voters on
    authors it never voted on, is judged changed from that burst on."""
    data, quality = world(seed=6, n_authors=120)
    engine = get_engine()
    cred, _ = engine.fit(data, NOW)
    victim = int(cred.voter_ids[np.argmax(cred.proven * (np.bincount(data.voter, minlength=len(cred.voter_ids)) >= 20))])
    old = set(data.author[data.voter == victim].tolist())
    weak = [a for a in np.argsort(quality)[:60].tolist() if a not in old][:20]
    posts = [int(data.post[data.author == a][0]) for a in weak]
    hijacked = _append(data, np.full(len(weak), victim), weak, posts, np.ones(len(weak)),
                       NOW - np.linspace(3, 1, len(weak)) * DAY)
    cred2, _ = engine.fit(hijacked, NOW)
    i = np.searchsorted(cred2.voter_ids, victim)
    assert np.isfinite(cred2.changed[i]) and cred2.changed[i] <= NOW - 1 * DAY
    assert not np.isfinite(cred.changed[np.searchsorted(cred.voter_ids, victim)])


def test_a_copycat_of_two_honest_voters_does_not_put_them_in_one_group():
    """Time-asymmetric grouping: the later copier pairs with each of them, but a one-sided pair
    links no one, so the two honest voters stay apart (a symmetric detector chains them)."""
    from reputation.engine.groups import detect_groups

    rng = np.random.default_rng(0)
    voters, posts, times = [], [], []
    for v in range(200):  # background: 200 voters on 2,000 posts
        p = rng.choice(2000, 20, replace=False)
        voters.append(np.full(20, v)), posts.append(p), times.append(NOW - rng.uniform(10, 60, 20) * DAY)
    h1, h2, copier = 200, 201, 202
    p1, p2 = np.arange(2000, 2020), np.arange(2020, 2040)  # each honest voter's own 20 posts
    t1, t2 = NOW - rng.uniform(20, 30, 20) * DAY, NOW - rng.uniform(20, 30, 20) * DAY
    voters += [np.full(20, h1), np.full(20, h2), np.full(40, copier)]
    posts += [p1, p2, np.r_[p1, p2]]
    times += [t1, t2, np.r_[t1, t2] + 2 * DAY]
    vpos, post, created = np.concatenate(voters), np.concatenate(posts), np.concatenate(times)
    value = np.ones(len(vpos), np.int8)
    author = post // 10
    kw = dict(block_threshold=None)
    symmetric = detect_groups(vpos, post, author, value, 203, **kw)
    assert symmetric[h1] >= 0 and symmetric[h1] == symmetric[h2] == symmetric[copier]
    timed = detect_groups(vpos, post, author, value, 203, created=created, **kw)
    assert timed[h1] < 0 or timed[h1] != timed[h2]



def _copied_supporters(delay_hours: tuple[float, float], seed: int = 0):
    """300 background voters on 200 authors, twelve honest supporters who like the same 8 authors, and
    copycats each replaying three consecutive supporters' votes `delay_hours` later (two per link).
    Returns detect_groups' block members (voter positions) and the supporters."""
    from reputation.engine.groups import detect_groups

    rng = np.random.default_rng(seed)
    voters, posts, times, values = [], [], [], []
    for v in range(300):  # background: 300 voters on 200 authors of 10 posts
        p = rng.choice(2000, 20, replace=False)
        voters.append(np.full(20, v)), posts.append(p), times.append(NOW - rng.uniform(1, 90, 20) * DAY)
        values.append(np.where(rng.random(20) < 0.6, 1, -1))
    supporters = np.arange(300, 312)  # 15 upvotes each on the 8 authors' 240 posts
    own = {h: (rng.choice(np.arange(2000, 2240), 15, replace=False), NOW - rng.uniform(5, 60, 15) * DAY)
           for h in supporters}
    for h, (p, t) in own.items():
        voters.append(np.full(len(p), h)), posts.append(p), times.append(t), values.append(np.ones(len(p), int))
    copycat = 312
    for j in range(len(supporters) - 2):
        for _ in range(2):
            for h in supporters[j:j + 3]:
                p, t = own[h]
                voters.append(np.full(len(p), copycat)), posts.append(p), values.append(np.ones(len(p), int))
                times.append(t + rng.uniform(*delay_hours, len(p)) * 3600)
            copycat += 1
    vpos, post, created, value = (np.concatenate(x) for x in (voters, posts, times, values))
    author = np.where(post >= 2000, 200 + (post - 2000) // 30, post // 10)
    *_, blocks = detect_groups(vpos, post, author, value.astype(np.int8), copycat, created=created, return_edges=True)
    return set(blocks[0].tolist()), set(supporters.tolist())


def test_honest_voters_copied_by_a_crowd_do_not_join_its_block():
    """Framing through the block pass: copycats replay a chain of honest supporters' votes, which links
    the supporters' authors into a dense block that the supporters themselves hit. On each post the
    supporter voted first and its copies followed, so the block's members are the copycats, not the
    people they copied. (Ranked per author over weeks, each supporter sat behind the other supporters
    and their copies, and all twelve became members, copied within the hour or days later.)"""
    members, supporters = _copied_supporters((0.1, 0.9))  # within the hour: no pair is one-sided
    assert len(members - supporters) >= 15  # the copycats are a block
    assert not members & supporters
    members, supporters = _copied_supporters((30, 240))  # a day to ten days later
    assert len(members - supporters) >= 15
    assert len(members & supporters) <= 3  # the rest voted after another supporter's copies


def _bought_upvotes(data, target, voters):
    """Established honest voters each add one upvote on a post of `target` they had not voted on, today."""
    posts = np.unique(data.post[data.author == target])
    voted = set(zip(data.voter.tolist(), data.post.tolist()))
    rows = [(v, p) for v in voters for p in posts if (v, p) not in voted][: 3 * len(voters)]
    rows = list({v: (v, p) for v, p in rows}.values())  # one post each
    v, p = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    return _append(data, v, np.full(len(v), target), p, np.ones(len(v)), np.full(len(v), NOW - DAY))


def _solicit(data, author, share, seed=0):
    """`data` with `share` of `author`'s votes marked as cast through Rate next."""
    rng = np.random.default_rng(seed)
    sol = (data.author == author) & (rng.random(len(data)) < share)
    return VoteData(data.voter, data.author, data.post, data.value, data.created, data.voter_ids, data.voter_joined,
                    solicited=sol)


def test_solicited_votes_hold_an_author_where_proven_accounts_pile_on():
    """Proven accounts can aim their votes; the people Merit asked could not. Where the asked ones have
    spoken, the other votes move an author's score only within what the asked ones' own interval allows."""
    data, quality = world(seed=4, votes_each=40)
    target = int(np.argmin(quality))
    engine = get_engine()
    cred = engine.fit(data, NOW)[0]
    buyers = cred.voter_ids[np.argsort(-cred.credibility)][:150]  # the most credible accounts, bought
    plain = _bought_upvotes(data, target, buyers)
    asked = _bought_upvotes(_solicit(data, target, 0.8), target, buyers)
    honest = score_of(engine.score(data, cred, NOW), target)
    s_plain, s_asked = engine.score(plain, cred, NOW), engine.score(asked, cred, NOW)
    assert score_of(s_plain, target) > honest + 15  # bought trust moves an author without the anchor
    assert score_of(s_asked, target) < score_of(s_plain, target) - 10
    i = np.searchsorted(s_asked.author_ids, target)
    assert s_asked.explanations[i]["solicited"]["held_points"] > 5
    assert s_asked.explanations[i]["solicited"]["votes"] > 20


def test_a_solicited_upvote_never_lowers_a_score():
    """The anchor's bounds are Beta quantiles, which rise with every solicited upvote."""
    data, quality = world(seed=5)
    engine = get_engine()
    cred = engine.fit(data, NOW)[0]
    rng = np.random.default_rng(2)
    ungrouped = cred.voter_ids[np.asarray(cred.group) < 0]
    voted = set(zip(data.voter.tolist(), data.post.tolist()))
    for author in np.argsort(quality)[:12]:
        base_data = _solicit(data, int(author), 0.6, seed=int(author))
        before = score_of(engine.score(base_data, cred, NOW), author)
        posts = np.unique(data.post[data.author == author])
        v, p = next((v, p) for v in rng.permutation(ungrouped) for p in posts if (v, p) not in voted)
        after = score_of(engine.score(_append(base_data, [v], [author], [p], [1], [NOW - DAY], solicited=[True]),
                                      cred, NOW), author)
        assert after >= before - 1e-9, (author, before, after)


def test_a_strike_stays_a_group_when_copied_honest_histories_make_its_component_the_crowd():
    """A co-voting component over a quarter of all voters is the crowd itself, not a ring. The
    group_overflow attack (bench/engine/attacks.py) links honest voters into its strike's component by
    replaying their histories within the detector's lag until it is that large; the block of targets the
    attackers share still makes them a group of their own, and the honest voters stay out of it."""
    from bench.engine import attacks, sim

    attacked = attacks.group_overflow(sim.make_world("clean", 5, "small"), np.random.default_rng(0), share=0.15,
                                      copies_each=3, cover=0.3, min_other=10, engine=get_engine())
    cred, _ = get_engine().fit(attacked.data, NOW)
    assert (cred.group[attacked.attacker] >= 0).mean() > 0.9
    assert (cred.group[~attacked.attacker] >= 0).mean() < 0.01
