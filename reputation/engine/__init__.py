"""The reputation model behind one small interface: votes in, credibility and reputation out.

`engine.fit(data, now)` is the full refit (credibilities, groups, every author);
`engine.score(data, cred, now)` scores authors with credibilities held fixed,
which is what the per-vote refresh uses.
"""

from .merit import MeritEngine
from .simple import SimpleBayesEngine
from .types import DAY, AuthorScores, Credibility, GroupLinks, VoteData

__all__ = ["DAY", "AuthorScores", "Credibility", "GroupLinks", "MeritEngine", "SimpleBayesEngine", "VoteData", "get_engine"]


def get_engine():
    return MeritEngine()
