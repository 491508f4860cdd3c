"""The reputation model behind one small interface: votes in, credibility and reputation out.

`engine.fit(data, now)` is the full refit (credibilities, groups, every author);
`engine.score(data, cred, now)` scores authors with credibilities held fixed,
which is what the per-vote refresh uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .types import DAY, AuthorScores, Credibility, GroupLinks, VoteData

if TYPE_CHECKING:
    from .merit import MeritEngine
    from .simple import SimpleBayesEngine

__all__ = ["DAY", "AuthorScores", "Credibility", "GroupLinks", "MeritEngine", "SimpleBayesEngine", "VoteData", "get_engine"]

# The engines import scipy (about 0.5 s): loaded on first use, not with the package, which every app
# load imports for its types (reputation/admin.py), management commands that never fit included.
_ENGINES = {"MeritEngine": ".merit", "SimpleBayesEngine": ".simple"}


def __getattr__(name: str):
    if name in _ENGINES:
        import importlib

        return getattr(importlib.import_module(_ENGINES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_engine() -> MeritEngine:
    from .merit import MeritEngine

    return MeritEngine()
