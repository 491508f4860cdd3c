"""Time `fit` in memory at the production scale: `.venv/bin/python bench/engine/scale.py [--votes 10000000]`.

A random world of the stated shape (10M votes, 1M posts, 100k authors, 500k
voters by default; post popularity heavy-tailed) with a 300-account ring
mixed in; prints the fit time, peak memory (RSS) and what the groups caught.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from reputation.engine import DAY, VoteData, get_engine


def world(n_votes: int, n_posts: int, n_authors: int, n_voters: int, seed: int = 0) -> VoteData:
    rng = np.random.default_rng(seed)
    now = 1.75e9
    post_author = rng.integers(0, n_authors, n_posts)
    pop = rng.pareto(1.5, n_posts) + 1
    voter = rng.integers(0, n_voters, n_votes)
    post = rng.choice(n_posts, n_votes, p=pop / pop.sum())
    ring = np.arange(n_voters - 300, n_voters)  # the last 300 voters push 20 authors' posts
    targets = np.flatnonzero(np.isin(post_author, np.arange(20)))
    k = min(len(targets), 50)
    rv, rp = np.repeat(ring, k), np.tile(targets[:k], len(ring))
    voter, post = np.concatenate([voter, rv]), np.concatenate([post, rp])
    key = np.unique(voter.astype(np.int64) * n_posts + post)
    voter, post = key // n_posts, key % n_posts
    value = np.where(rng.random(len(voter)) < 0.7, 1, -1).astype(np.int8)
    value[np.isin(voter, ring)] = 1
    return VoteData(
        voter=voter, author=post_author[post].astype(np.int64), post=post, value=value,
        created=now - rng.random(len(voter)) * 90 * DAY, voter_ids=np.arange(n_voters, dtype=np.int64),
        voter_joined=now - rng.uniform(0, 900, n_voters) * DAY,
    ), ring


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--votes", type=int, default=10_000_000)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--authors", type=int, default=100_000)
    ap.add_argument("--voters", type=int, default=500_000)
    args = ap.parse_args()
    t = time.perf_counter()
    data, ring = world(args.votes, args.posts, args.authors, args.voters)
    print(f"generated {len(data):,} votes in {time.perf_counter() - t:.1f}s")
    engine = get_engine()
    t, c = time.perf_counter(), time.process_time()
    cred, scores = engine.fit(data, 1.75e9)
    fit_s, fit_cpu = time.perf_counter() - t, time.process_time() - c
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    g = cred.group
    print(f"fit: {fit_s:.1f}s wall, {fit_cpu:.1f}s CPU, peak RSS {peak_gb:.2f} GB, authors {len(scores.author_ids):,}, "
          f"grouped voters {(g >= 0).sum():,} in {len(np.unique(g[g >= 0])):,} groups, "
          f"ring members grouped {(g[ring] >= 0).sum()}/{len(ring)}")
    one = np.flatnonzero(data.author == scores.author_ids[np.argmax(scores.voters)])[:300]
    sub = VoteData(data.voter[one], data.author[one], data.post[one], data.value[one], data.created[one],
                   data.voter_ids, data.voter_joined)
    t = time.perf_counter()
    for _ in range(20):
        engine.score(sub, cred, 1.75e9)
    print(f"score one author ({len(one)} votes): {(time.perf_counter() - t) / 20 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
