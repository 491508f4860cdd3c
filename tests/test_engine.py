"""Properties of the reputation engine, on small synthetic worlds (no database)."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reputation.engine import DAY, Credibility, VoteData, get_engine
from reputation.engine.types import GROUP_ID_STRIDE

NOW = 1.75e9


def world(seed=0, n_voters=300, n_authors=40, votes_each=25):
    """Honest voters on authors of hidden quality; returns (VoteData, quality per author)."""
    rng = np.random.default_rng(seed)
    quality = rng.uniform(0.1, 0.9, n_authors)
    post_author = np.repeat(np.arange(n_authors), 8)
    voter = np.repeat(np.arange(n_voters), votes_each)
    post = rng.integers(0, len(post_author), len(voter))
    key = np.unique(voter * len(post_author) + post)
    voter, post = key // len(post_author), key % len(post_author)
    author = post_author[post]
    value = np.where(rng.random(len(voter)) < quality[author], 1, -1).astype(np.int8)
    return VoteData(
        voter=voter.astype(np.int64), author=author.astype(np.int64), post=post.astype(np.int64), value=value,
        created=NOW - rng.uniform(1, 60, len(voter)) * DAY, voter_ids=np.arange(n_voters, dtype=np.int64),
        voter_joined=NOW - rng.uniform(100, 900, n_voters) * DAY,
    ), quality


def with_ring(data, target, n=60, fresh=True, owned=False):
    """n accounts that all upvote every post of `target` (and, if owned, own that author)."""
    ids = np.arange(n, dtype=np.int64) + data.voter_ids.max() + 1
    posts = np.unique(data.post[data.author == target])
    v, p = np.repeat(ids, len(posts)), np.tile(posts, n)
    joined = NOW - (np.full(n, 0.5) if fresh else np.full(n, 400.0)) * DAY
    return VoteData(
        voter=np.concatenate([data.voter, v]), author=np.concatenate([data.author, np.full(len(v), target)]),
        post=np.concatenate([data.post, p]), value=np.concatenate([data.value, np.ones(len(v), np.int8)]),
        created=np.concatenate([data.created, np.full(len(v), NOW - 3600.0)]),
        voter_ids=np.concatenate([data.voter_ids, ids]), voter_joined=np.concatenate([data.voter_joined, joined]),
        owned_author=np.array([target]) if owned else np.empty(0, np.int64),
        owner_voter=ids[:1] if owned else np.empty(0, np.int64),
    )


def score_of(scores, author):
    return float(scores.score[np.searchsorted(scores.author_ids, author)])


def test_it_ignores_the_order_of_votes():
    data, _ = world()
    perm = np.random.default_rng(1).permutation(len(data))
    shuffled = VoteData(data.voter[perm], data.author[perm], data.post[perm], data.value[perm], data.created[perm],
                        data.voter_ids, data.voter_joined)
    c1, s1 = get_engine().fit(data, NOW)
    c2, s2 = get_engine().fit(shuffled, NOW)
    np.testing.assert_allclose(s1.score, s2.score)
    np.testing.assert_allclose(c1.credibility, c2.credibility)
    np.testing.assert_array_equal(c1.group >= 0, c2.group >= 0)


def test_it_reproduces_a_score_from_the_same_votes():
    data, _ = world()
    cred, fitted = get_engine().fit(data, NOW)
    again = get_engine().score(data, cred, NOW)
    np.testing.assert_allclose(fitted.score, again.score)
    np.testing.assert_allclose(get_engine().fit(data, NOW)[1].score, fitted.score)


def test_it_never_gives_a_voter_weight_above_one():
    data, _ = world()
    cred, scores = get_engine().fit(with_ring(data, 3, fresh=False), NOW)
    assert cred.credibility.max() <= 1.0 and cred.credibility.min() >= 0.0
    assert ((scores.weight_up + scores.weight_down) <= scores.upvotes + scores.downvotes + 1e-9).all()


def test_it_ranks_authors_by_their_quality():
    data, quality = world()
    _, scores = get_engine().fit(data, NOW)
    assert np.corrcoef(scores.score, quality[scores.author_ids])[0, 1] > 0.8


def test_it_barely_moves_a_target_pushed_by_a_fresh_sybil_ring():
    data, quality = world()
    target = int(np.argmin(quality))
    before = score_of(get_engine().fit(data, NOW)[1], target)
    after = score_of(get_engine().fit(with_ring(data, target, fresh=True), NOW)[1], target)
    assert after - before < 3.0


def test_it_collapses_an_aged_ring_into_one_group():
    data, quality = world()
    target = int(np.argmin(quality))
    attacked = with_ring(data, target, fresh=False)
    cred, scores = get_engine().fit(attacked, NOW)
    ring = cred.group[-60:]
    assert (ring >= 0).all() and len(np.unique(ring)) == 1
    assert not (cred.group[:-60] == ring[0]).any()  # no honest voter is swept into the ring
    before = score_of(get_engine().fit(data, NOW)[1], target)
    assert score_of(scores, target) - before < 5.0


def test_it_counts_a_groups_votes_on_its_own_members_posts_for_nothing():
    data, quality = world()
    target = int(np.argmin(quality))
    attacked = with_ring(data, target, fresh=False, owned=True)
    cred, scores = get_engine().fit(attacked, NOW)
    i = np.searchsorted(scores.author_ids, target)
    ex = scores.explanations[i]
    ring_votes = (attacked.voter >= 300).sum()
    assert ex["discounted"]["group_votes_on_own_members"] > 0
    # What the ring adds to the target is exactly nothing: same weights as without it.
    honest_only = get_engine().score(data, Credibility(cred.voter_ids[:300], cred.credibility[:300]), NOW)
    j = np.searchsorted(honest_only.author_ids, target)
    assert scores.weight_up[i] == honest_only.weight_up[j]
    assert ring_votes > 0


def test_it_explains_every_score():
    data, quality = world()
    _, scores = get_engine().fit(with_ring(data, int(np.argmin(quality)), fresh=False), NOW)
    for ex in scores.explanations:
        assert {"votes", "voters", "independent_voices", "groups", "effective_voters", "counted_weight",
                "coordinated_discount", "viewpoint_sides_up_share"} <= set(ex)
        assert {"new_or_low_credibility_accounts", "large_groups", "collapsed_groups", "group_votes_on_own_members",
                "per_voter_cap", "per_group_cap"} <= set(ex["discounted"])
    assert set(scores.status) <= {"insufficient_data", "provisional", "established", "under_review"}
    assert (scores.low <= scores.score).all() and (scores.score <= scores.high).all()


def test_it_reports_the_discount_when_a_refit_newly_finds_a_group():
    data, quality = world()
    target = int(np.argmin(quality))
    _, before = get_engine().fit(data, NOW)
    _, after = get_engine().fit(with_ring(data, target, fresh=False), NOW)
    i, j = np.searchsorted(before.author_ids, target), np.searchsorted(after.author_ids, target)
    was, found = before.explanations[i]["coordinated_discount"], after.explanations[j]["coordinated_discount"]
    assert found["groups"] == was["groups"] + 1  # (this dense little world has a few honest pairs already)
    assert after.coordinated_discount[j] == pytest.approx(found["weight"], abs=1e-3)
    # The ring's past votes stopped counting (one group voice, at most one vote-equivalent per
    # author), and what its members' credibility would have given is listed as discounted.
    ring_votes = (after.upvotes[j] + after.downvotes[j]) - (before.upvotes[i] + before.downvotes[i])
    assert found["weight"] - was["weight"] > 0.4 * ring_votes
    assert after.weight_up[j] - before.weight_up[i] < 1.5


def test_a_large_group_speaks_with_less_than_one_voice_and_a_refresh_knows_its_size():
    data, quality = world()
    target = int(np.argmin(quality))
    attacked = with_ring(data, target, n=60, fresh=False)
    engine = get_engine()
    cred, scores = engine.fit(attacked, NOW)
    honest_only = engine.score(data, Credibility(cred.voter_ids[:300], cred.credibility[:300]), NOW)
    i, j = np.searchsorted(scores.author_ids, target), np.searchsorted(honest_only.author_ids, target)
    # 60 accounts share the voice of group_voice_size (10) accounts: at most 10/60 of a vote-equivalent.
    assert (cred.group[-60:] >= 0).all()
    added = scores.weight_up[i] - honest_only.weight_up[j]
    assert 0 < added <= engine.group_voice_size / 60 * engine.group_author_cap + 1e-9
    ex = scores.explanations[i]["discounted"]
    assert ex["large_groups"] > 0.5 * 60 * (1 - engine.group_voice_size / 60) * 0.5
    # The per-author refresh loads only the credibilities of that author's voters; the group's
    # size travels in its id, so the refresh scores the author exactly as the refit did.
    mine = attacked.author == target
    voters = np.unique(attacked.voter[mine])
    keep = np.isin(cred.voter_ids, voters)
    sub = VoteData(attacked.voter[mine], attacked.author[mine], attacked.post[mine], attacked.value[mine],
                   attacked.created[mine], attacked.voter_ids, attacked.voter_joined)
    partial = Credibility(cred.voter_ids[keep], cred.credibility[keep], cred.group[keep], cred.side[keep],
                          cred.proven[keep], cred.changed[keep], cred.links.by_voter().among(voters))
    refreshed = engine.score(sub, partial, NOW)
    assert refreshed.score[0] == pytest.approx(scores.score[i], abs=1e-9)


def test_a_pair_with_similar_taste_keeps_its_full_voice():
    data, _ = world()
    cred, _ = get_engine().fit(data, NOW)

    def as_group(members, size):
        group = np.where(np.isin(cred.voter_ids, members), size * GROUP_ID_STRIDE, -1)
        return get_engine().score(data, Credibility(cred.voter_ids, cred.credibility, group, cred.side), NOW)

    pair, crowd = as_group([0, 1], 2), as_group([0, 1], 60)
    assert all(ex["discounted"]["large_groups"] == 0 for ex in pair.explanations)
    assert sum(ex["discounted"]["large_groups"] for ex in crowd.explanations) > 0


def test_an_interval_widens_when_the_viewpoint_sides_disagree():
    """Same votes, same score; the interval is wider when the upvotes all come from one side."""
    n = 40
    ids = np.arange(n, dtype=np.int64)
    data = VoteData(ids, np.zeros(n, np.int64), np.zeros(n, np.int64), np.where(ids < 20, 1, -1).astype(np.int8),
                    np.full(n, NOW - DAY), ids, np.full(n, NOW - 400 * DAY))
    split = Credibility(ids, np.ones(n), side=np.where(ids < 20, 1.0, -1.0))
    mixed = Credibility(ids, np.ones(n), side=np.where(ids % 2 == 0, 1.0, -1.0))
    a, b = get_engine().score(data, split, NOW), get_engine().score(data, mixed, NOW)
    assert a.score[0] == pytest.approx(b.score[0])
    assert a.high[0] - a.low[0] > 1.5 * (b.high[0] - b.low[0])


def test_the_smaller_camp_keeps_its_say_when_each_camp_favours_its_own_side():
    """Competence is agreement with the bridged consensus (both viewpoint sides count equally),
    so siding with the larger camp earns no extra credibility."""
    rng = np.random.default_rng(0)
    n_voters, n_authors = 200, 30
    camp = (np.arange(n_voters) >= 140).astype(int)  # 140 against 60
    post_author = np.repeat(np.arange(n_authors), 3)
    voter = np.repeat(np.arange(n_voters), 20)
    post = rng.integers(0, len(post_author), len(voter))
    key = np.unique(voter * len(post_author) + post)
    voter, post = key // len(post_author), key % len(post_author)
    own = camp[voter] == post_author[post] % 2
    value = np.where(rng.random(len(voter)) < np.where(own, 0.9, 0.1), 1, -1).astype(np.int8)
    data = VoteData(voter, post_author[post], post, value, NOW - rng.uniform(1, 60, len(voter)) * DAY,
                    np.arange(n_voters), np.full(n_voters, NOW - 400 * DAY))
    cred, _ = get_engine().fit(data, NOW)
    assert abs(np.corrcoef(cred.side, camp)[0, 1]) > 0.9  # the viewpoint axis finds the camps
    assert np.abs(cred.side).mean() > 0.5  # at full strength
    assert abs(cred.credibility[camp == 0].mean() - cred.credibility[camp == 1].mean()) < 0.1


def test_the_viewpoint_sides_stay_neutral_when_voters_form_no_camps():
    """Bridging only where there are camps: without them the axis fits noise, and a two-sided score
    would only add that noise, so every voter's side is pulled most of the way to neutral."""
    for seed in range(3):
        data, _ = world(seed)
        cred, _ = get_engine().fit(data, NOW)
        assert np.abs(cred.side).max() < 0.35


def test_a_groups_members_share_one_viewpoint_side():
    """So a group's one voice lands on one side, and a member's added upvote cannot move weight across sides."""
    assert (_cred.group >= 0).any()
    for g in np.unique(_cred.group[_cred.group >= 0]):
        assert np.ptp(_cred.side[_cred.group == g]) == 0


def test_it_finds_an_attack_spread_too_thin_for_pairwise_co_voting():
    """Each account upvotes one post of 5 of the 12 targets and nothing else, so no two accounts share enough to pair up;
    the targets, though, share far more voters than chance."""
    data, quality = world(n_voters=2000, n_authors=300, votes_each=10)
    rng = np.random.default_rng(5)
    targets = np.argsort(quality)[:12]
    ids = np.arange(150, dtype=np.int64) + data.voter_ids.max() + 1
    posts = [np.unique(data.post[data.author == t]) for t in targets]
    post_author = np.zeros(data.post.max() + 1, np.int64)
    post_author[data.post] = data.author
    v, p = [], []
    for i in ids:
        for t in rng.choice(12, 5, replace=False):
            v.append(i)
            p.append(rng.choice(posts[t]))
    v, p = np.array(v), np.array(p)
    attacked = VoteData(
        voter=np.concatenate([data.voter, v]), author=np.concatenate([data.author, post_author[p]]),
        post=np.concatenate([data.post, p]), value=np.concatenate([data.value, np.ones(len(v), np.int8)]),
        created=np.concatenate([data.created, NOW - rng.uniform(1, 50, len(v)) * DAY]),
        voter_ids=np.concatenate([data.voter_ids, ids]),
        voter_joined=np.concatenate([data.voter_joined, np.full(len(ids), NOW - 400 * DAY)]),
    )
    cred, _ = get_engine().fit(attacked, NOW)
    assert (cred.group[-150:] >= 0).mean() > 0.8
    assert (cred.group[:-150] >= 0).mean() < 0.01


def test_it_says_insufficient_data_for_a_single_vote():
    data = VoteData(np.array([1]), np.array([7]), np.array([70]), np.array([1], np.int8), np.array([NOW - 10]),
                    np.array([1]), np.array([NOW - 400 * DAY]))
    _, scores = get_engine().fit(data, NOW)
    assert scores.status[0] == "insufficient_data" and 40 < scores.score[0] < 70


_base, _ = world(seed=3, n_voters=80, n_authors=10, votes_each=8)
_cred = get_engine().fit(_base, NOW)[0]


@settings(max_examples=40, deadline=None)
@given(author=st.integers(0, 9), voter=st.integers(0, 120), age_days=st.floats(0, 1000))
@example(author=7, voter=74, age_days=1.0)  # members of a pair group: the mean-weight collapse failed here
@example(author=7, voter=31, age_days=1.0)
@example(author=6, voter=4, age_days=1.0)  # voter 4's pair partner votes on author 6: the exception below
def test_it_never_lowers_a_score_for_an_added_upvote(author, voter, age_days):
    """...except when the vote makes its voter one group with a partner on that author. Groups are induced
    per author (a copycat who never votes on an author links no one there), so the pair then counts as one
    voice on it and the partner's earlier votes can lose weight: measured on this world, 2 of 84 such
    additions lowered the score (by 0.30), no other addition did. That case is specified apart."""
    data = _base
    post = int(data.post[data.author == author][0]) if (data.author == author).any() else 10_000 + author
    if ((data.voter == voter) & (data.post == post)).any():
        return  # one vote per voter per post
    i = min(np.searchsorted(_cred.voter_ids, voter), len(_cred.voter_ids) - 1)
    if _cred.voter_ids[i] == voter and _cred.group[i] >= 0:
        mates = np.setdiff1d(_cred.voter_ids[_cred.group == _cred.group[i]], [voter])
        if np.isin(mates, data.voter[data.author == author]).any():
            return  # it joins a group on this author: see the test below
    ids = np.union1d(data.voter_ids, [voter])
    joined = np.where(np.isin(ids, data.voter_ids), 0.0, NOW - age_days * DAY)
    joined[np.isin(ids, data.voter_ids)] = data.voter_joined
    plus = VoteData(
        np.append(data.voter, voter), np.append(data.author, author), np.append(data.post, post),
        np.append(data.value, np.int8(1)), np.append(data.created, NOW - 60), ids, joined,
    )
    before = get_engine().score(data, _cred, NOW)
    after = get_engine().score(plus, _cred, NOW)
    b = score_of(before, author) if author in before.author_ids else 100 * get_engine().prior_mean
    assert score_of(after, author) >= b - 1e-9


def test_intervals_widen_where_posts_disagree_more_than_votes_at_one_rate_would():
    """Same votes per author, same scores; where each author's posts are all-up or all-down (quality
    that varies post to post, or herding) instead of mixed, the world's post dispersion is high and
    every interval is wider."""
    n_authors, posts_each, votes_each = 30, 4, 6
    post = np.repeat(np.arange(n_authors * posts_each), votes_each)
    author = post // posts_each
    voter = np.arange(len(post), dtype=np.int64)
    mixed = np.where(np.arange(len(post)) % 2 == 0, 1, -1).astype(np.int8)  # every post half up
    split = np.where(post % 2 == 0, 1, -1).astype(np.int8)  # half the posts all up, half all down

    def data(value):
        return VoteData(voter, author.astype(np.int64), post.astype(np.int64), value, np.full(len(post), NOW - DAY),
                        voter, np.full(len(post), NOW - 400 * DAY))

    cred = Credibility(voter, np.ones(len(voter)))
    engine = get_engine()
    calm, scattered = engine.score(data(mixed), cred, NOW), engine.score(data(split), cred, NOW)
    assert engine.world_dispersion(data(mixed), author, n_authors) == 1.0
    assert engine.world_dispersion(data(split), author, n_authors) == pytest.approx(2.0)  # votes on a post agree fully
    np.testing.assert_allclose(calm.score, scattered.score)
    assert np.all(scattered.high - scattered.low > 1.3 * (calm.high - calm.low))
    # A refresh that is told the refit's dispersion gives the refit's interval for one author.
    fixed = Credibility(voter, np.ones(len(voter)), dispersion=engine.world_dispersion(data(split), author, n_authors))
    one = data(split)
    mine = one.author == 0
    alone = engine.score(VoteData(one.voter[mine], one.author[mine], one.post[mine], one.value[mine], one.created[mine],
                                  voter, one.voter_joined), fixed, NOW)
    assert (alone.low[0], alone.high[0]) == pytest.approx((scattered.low[0], scattered.high[0]))


def test_an_interval_is_wider_where_the_same_votes_sit_on_fewer_posts():
    """Two authors with the same 8 up and 4 down votes: one on a single post, one on twelve posts of a
    vote each. In a world whose votes on a post are correlated the first knows less (its votes share one
    post's quality and herd); where they are not, the two intervals are the same."""
    post = np.r_[np.zeros(12), np.arange(1, 13)].astype(np.int64)
    author = np.r_[np.zeros(12), np.ones(12)].astype(np.int64)
    value = np.tile(np.r_[np.ones(8), -np.ones(4)], 2).astype(np.int8)
    voter = np.arange(24, dtype=np.int64)
    data = VoteData(voter, author, post, value, np.full(24, NOW - DAY), voter, np.full(24, NOW - 400 * DAY))
    widths = {}
    for dispersion in (1.0, 1.2):
        s = get_engine().score(data, Credibility(voter, np.ones(24), dispersion=dispersion), NOW)
        np.testing.assert_allclose(s.score[0], s.score[1])
        widths[dispersion] = s.high - s.low
    assert widths[1.0][0] == pytest.approx(widths[1.0][1])
    assert widths[1.2][0] > 1.2 * widths[1.2][1]
    assert widths[1.2][1] == pytest.approx(widths[1.0][1])  # one vote a post: nothing shared


def test_an_upvote_that_makes_a_pair_one_group_on_an_author_counts_the_pair_as_one_voice():
    """The exception to the monotone property: voter 4 and its partner are a detected pair; once voter 4
    also votes on author 6, where the partner voted, the two count as one group there (at most one vote)."""
    data, author, voter = _base, 6, 4
    post = int(data.post[data.author == author][0])
    plus = VoteData(np.append(data.voter, voter), np.append(data.author, author), np.append(data.post, post),
                    np.append(data.value, np.int8(1)), np.append(data.created, NOW - 60), data.voter_ids,
                    data.voter_joined)
    engine = get_engine()
    g = _cred.group[np.searchsorted(_cred.voter_ids, voter)]
    pair = _cred.voter_ids[_cred.group == g]
    assert len(pair) == 2
    for d, grouped in ((data, False), (plus, True)):
        w, parts = engine._weights(d, _cred, NOW)
        mine = (d.author == author) & np.isin(d.voter, pair)
        assert ((parts["group"][mine] >= 0).all() and len(np.unique(d.voter[mine])) == 2) == grouped
    assert w[mine].sum() <= engine.group_author_cap + 1e-9


def test_unique_inverse_gives_numpys_arrays_for_any_ids():
    """The presence-table path (ids of a narrow range) and np.unique's agree, dtype and all."""
    from reputation.engine.types import unique_inverse

    rng = np.random.default_rng(0)
    cases = [rng.integers(0, 1000, 50_000), rng.integers(0, 1000, 50_000).astype(np.int32),
             rng.integers(0, 2**40, 1000), rng.integers(-5, 5, 100), np.array([7, 7, 7]), np.empty(0, np.int64)]
    for x in cases:
        u, inv = unique_inverse(x)
        u0, inv0 = np.unique(x, return_inverse=True)
        assert u.dtype == u0.dtype and np.array_equal(u, u0)
        assert np.array_equal(inv, inv0)
