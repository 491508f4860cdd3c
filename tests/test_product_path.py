"""The bench's "through the product" path (bench/engine/product_path.py) on a tiny world.

It runs the real commands (migrate, import_votes, recompute_reputation, export_reputation) as
subprocesses on a temporary SQLite file: about 12 s, most of it four Django start-ups.
"""

import numpy as np

from bench.engine.product_path import run_through_product


def test_a_tiny_world_through_the_product_ranks_the_best_author_first():
    rng = np.random.default_rng(0)
    good, middling, bad = 7, 2, 4  # not 0, 1, 2: the export's handles must map back to these ids
    share = {good: 0.9, middling: 0.5, bad: 0.1}
    voter = np.tile(np.arange(30), 3)
    author = np.repeat([good, middling, bad], 30)
    post = author * 100 + voter % 3  # three posts per author
    value = np.where(rng.random(len(voter)) < np.vectorize(share.get)(author), 1, -1)
    created = 1.7e9 + np.arange(len(voter)) * 60.0
    joined = np.full(len(voter), 1.6e9)

    out = run_through_product(
        voter=voter, author=author, post=post, value=value, created=created, voter_joined=joined,
        n_authors=10, database="sqlite", verbose=False,
    )

    assert out.backend == "sqlite"
    assert set(np.flatnonzero(out.exported)) == {good, middling, bad}
    assert out.score[good] > out.score[middling] > out.score[bad]
    assert np.nanargmax(out.score) == good
    for a in (good, middling, bad):
        assert out.low[a] <= out.score[a] <= out.high[a]
        assert out.votes[a] == 30 and out.voters[a] == 30
    assert np.isnan(out.score[0])  # nobody voted on author 0: absent from the export...
    assert out.result().score[0] == 50  # ...and shown at the prior
    assert set(out.timings) >= {"migrate", "import_votes", "recompute_reputation", "export_reputation"}
