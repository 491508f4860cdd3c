"""The reputation model behind one small interface: votes in, credibility and reputation out.

Everything here is pure NumPy over whole arrays; no ORM. `fit` is the full refit
(credibilities, then every author); `score` scores authors with credibilities
held fixed, which is what the per-vote refresh uses. Replacing the model means
providing another `Engine` with the same two methods.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .types import DAY, AuthorScores, Credibility, VoteData


class SimpleBayesEngine:
    """Credibility-weighted Beta-Binomial shrinkage.

    A voter's credibility ramps with account age (30-day scale) and with the
    number of votes cast (10 to earn full weight), capped at 1. Each author's
    score is the posterior mean of the weighted up-share under a Beta prior worth
    `prior_strength` vote-equivalents at 50%, so a handful of votes cannot move
    an author far from the middle. No voter adds more than `per_author_cap`
    vote-equivalents to any one author.
    """

    name = "simple-bayes-v1"
    age_scale_days = 30.0
    votes_to_earn = 10
    prior_strength = 5.0
    per_author_cap = 2.0
    min_effective_voters = 3.0
    established_effective_voters = 10.0

    def fit(self, data: VoteData, now: float) -> tuple[Credibility, AuthorScores]:
        cred = self.credibility(data, now)
        return cred, self.score(data, cred, now)

    def credibility(self, data: VoteData, now: float) -> Credibility:
        age_days = np.maximum(now - data.voter_joined, 0.0) / DAY
        age_ramp = 1.0 - np.exp(-age_days / self.age_scale_days)
        voter_pos = np.searchsorted(data.voter_ids, data.voter)
        n_votes = np.bincount(voter_pos, minlength=len(data.voter_ids))
        earned = np.minimum(1.0, n_votes / self.votes_to_earn)
        return Credibility(data.voter_ids.copy(), np.clip(age_ramp * earned, 0.0, 1.0))

    def new_voter_credibility(self, joined: np.ndarray, now: float) -> np.ndarray:
        """Weight of voters the last refit has not seen: age ramp, one vote earned."""
        age_days = np.maximum(now - joined, 0.0) / DAY
        return (1.0 - np.exp(-age_days / self.age_scale_days)) / self.votes_to_earn

    def score(self, data: VoteData, cred: Credibility, now: float) -> AuthorScores:
        joined = np.empty(0) if not len(data.voter_ids) else data.voter_joined[np.searchsorted(data.voter_ids, data.voter)]
        default = self.new_voter_credibility(joined, now) if len(joined) else 0.0
        weight = cred.lookup(data.voter, default)

        author_ids, author_pos = np.unique(data.author, return_inverse=True)
        n_authors = len(author_ids)
        # Per-voter-per-author cap: a voter's votes on one author count at most `per_author_cap`.
        pair = author_pos.astype(np.int64) * (int(data.voter.max(initial=0)) + 1) + data.voter
        _, pair_pos, pair_n = np.unique(pair, return_inverse=True, return_counts=True)
        capped = weight * np.minimum(1.0, self.per_author_cap / pair_n[pair_pos])

        up = data.value > 0
        w_up = np.bincount(author_pos, capped * up, n_authors)
        w_down = np.bincount(author_pos, capped * ~up, n_authors)
        n_up = np.bincount(author_pos, up, n_authors).astype(np.int64)
        n_down = np.bincount(author_pos, ~up, n_authors).astype(np.int64)
        voters = np.bincount(author_pos[np.unique(pair, return_index=True)[1]], minlength=n_authors)
        # Effective number of independent voters, (sum w)^2 / sum w^2 over voters.
        voter_w = np.bincount(pair_pos, capped)
        pair_author = np.empty(len(voter_w), np.int64)
        pair_author[pair_pos] = author_pos
        sw = np.bincount(pair_author, voter_w, n_authors)
        sw2 = np.bincount(pair_author, voter_w**2, n_authors)
        n_eff = np.divide(sw**2, sw2, out=np.zeros(n_authors), where=sw2 > 0)

        a = self.prior_strength / 2 + w_up
        b = self.prior_strength / 2 + w_down
        mean = a / (a + b)
        low = stats.beta.ppf(0.05, a, b)
        high = stats.beta.ppf(0.95, a, b)

        status = np.where(
            n_eff < self.min_effective_voters,
            "insufficient_data",
            np.where(n_eff < self.established_effective_voters, "provisional", "established"),
        )
        raw_weight = np.bincount(author_pos, np.ones_like(weight), n_authors)
        discounted_new = np.bincount(author_pos, 1.0 - weight, n_authors)
        discounted_cap = np.bincount(author_pos, weight - capped, n_authors)
        explanations = [
            {
                "votes": int(n_up[i] + n_down[i]),
                "voters": int(voters[i]),
                "effective_voters": round(float(n_eff[i]), 2),
                "counted_weight": round(float(w_up[i] + w_down[i]), 3),
                "discounted": {
                    "new_or_low_credibility_accounts": round(float(discounted_new[i]), 3),
                    "per_voter_cap": round(float(discounted_cap[i]), 3),
                },
                "raw_weight": round(float(raw_weight[i]), 3),
                "prior_votes": self.prior_strength,
            }
            for i in range(n_authors)
        ]
        post_ids, post_pos = np.unique(data.post, return_inverse=True)
        p_up = np.bincount(post_pos, capped * up, len(post_ids))
        p_down = np.bincount(post_pos, capped * ~up, len(post_ids))
        # A post is shrunk toward its author's score, not toward 50.
        post_author_mean = np.empty(len(post_ids))
        post_author_mean[post_pos] = mean[author_pos]
        k = self.prior_strength
        post_quality = 100 * (k * post_author_mean + p_up) / (k + p_up + p_down)
        return AuthorScores(
            post_ids=post_ids,
            post_quality=post_quality,
            post_upvotes=np.bincount(post_pos, up, len(post_ids)).astype(np.int64),
            post_downvotes=np.bincount(post_pos, ~up, len(post_ids)).astype(np.int64),
            author_ids=author_ids,
            score=100 * mean,
            low=100 * low,
            high=100 * high,
            upvotes=n_up,
            downvotes=n_down,
            voters=voters,
            effective_voters=n_eff,
            weight_up=w_up,
            weight_down=w_down,
            status=status,
            explanations=explanations,
            coordinated_discount=np.zeros(n_authors),  # this model finds no groups
        )

