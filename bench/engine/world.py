"""What a world generator gives the benchmark: votes with a hidden truth.

Every generator (`sim.py`, `sim2.py`) returns a `World`; every attack in `attacks.py` takes an
honest `World` and returns a new one with the attackers' accounts and votes added, so an attack
runs unchanged on any generator. Ids: authors 0..A-1, posts 0..P-1, voters 0..V-1 (attackers
after the honest voters).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reputation.engine import VoteData

DAY = 86400.0
NOW = 1.75e9


def _ints():
    return np.empty(0, np.int64)


@dataclass
class World:
    data: VoteData
    truth: np.ndarray  # per author, honest up-share 0-1
    followers: np.ndarray  # per author
    honest_votes: np.ndarray  # per author
    attacker: np.ndarray  # per voter, bool (noise voters, sybils, brigaders, ring owners)
    push: np.ndarray = field(default_factory=_ints)  # author ids the attack pushes up
    sink: np.ndarray = field(default_factory=_ints)  # ... and down
    author_camp: np.ndarray | None = None  # polarized world: 0 = larger camp
    # Per post (optional, for attacks that need them): its author, when it appeared, and how much
    # attention it draws (relative). An attack that needs them and finds them empty derives them
    # from the votes (author of the post's votes, first vote time, vote count).
    post_author: np.ndarray = field(default_factory=_ints)
    post_created: np.ndarray = field(default_factory=lambda: np.empty(0))
    post_popularity: np.ndarray = field(default_factory=lambda: np.empty(0))
    # The attack's cost, for the report: accounts it created or took over.
    budget_accounts: int = 0
