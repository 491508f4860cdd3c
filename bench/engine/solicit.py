"""Rate next in a world: a share of the honest votes came from posts Merit picked for the voter.

Generator-agnostic (honest World in, World with `solicited` flags out), applied before any attack, so
an attack adds unsolicited votes to a world whose honest voters used Rate next. Which votes: Merit
samples where evidence is thin, so solicited votes are spread as evenly over authors as the honest
votes allow ("water-filling"): each author gets up to `level` of its honest votes marked, `level`
chosen so that `share` of all honest votes are marked, each author's marked votes drawn at random
among its honest votes.

The model is generous in one way and strict in another, and the report says so: it converts votes
the honest voters cast anyway (Rate next does not add votes here), and attackers get no solicited
votes at all (with Rate next they would get posts at random, a share of them on the targets no
larger than their share of Rate next's traffic).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .world import World


def _level(counts: np.ndarray, budget: float) -> float:
    """The largest L with sum(min(counts, L)) <= budget (bisection over a monotone sum)."""
    lo, hi = 0.0, float(counts.max(initial=0))
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.minimum(counts, mid).sum() <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def solicit(world: World, share: float, seed: int = 0) -> World:
    """`world` with `share` of its honest votes marked solicited (no attacker vote is)."""
    d = world.data
    if share <= 0 or not len(d):
        return world
    honest = ~world.attacker[d.voter]
    authors = d.author[honest]
    counts = np.bincount(authors, minlength=int(d.author.max()) + 1).astype(float)
    level = _level(counts, share * honest.sum())
    p = np.divide(np.minimum(counts, level), counts, out=np.zeros_like(counts), where=counts > 0)
    rng = np.random.default_rng(10_007 + seed)
    solicited = np.zeros(len(d), bool)
    solicited[honest] = rng.random(int(honest.sum())) < p[authors]
    if len(d.solicited) == len(d):
        solicited |= d.solicited.astype(bool)
    return dataclasses.replace(world, data=dataclasses.replace(d, solicited=solicited))
