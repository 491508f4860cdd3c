"""Bitcoin OTC by the product's protocol: the ratings imported as votes and scored by the product.

The protocol (the issue's acceptance test, and the bench's only OTC path):

- one vote per OTC rating: rater = voter, rated member = author, value = the rating's sign (the
  ratings are -10..10 and never 0; checked), cast at the rating's time;
- on a post of the rated member: ONE post per rated member (X post id = the member's id), so a
  member's ratings are votes on the same post (the data has no repeated rater->member pair, so no
  rating is merged into another);
- `voter_joined_at` = that rater's first rating;
- no rater owns an author (the import cannot link accounts; a rater is not their own author);
- variant "without raters 1, 2125": those two raters' ratings are dropped (the acceptance figure);
  variant "all ratings" keeps them;
- the engine's scores come through the product (`product_path.run_through_product`: import_votes,
  recompute_reputation, export_reputation on a throwaway database); a labelled member nobody rated
  (absent from the export) gets the prior, score 50, as the service shows them;
- the baselines run in memory on the SAME votes (same drop, same join dates, no owned authors);
  their undefined scores (members nobody rated) get the median, as the metrics give them elsewhere;
- ROC AUC benign vs fraudulent over the labelled members (otc_gt.csv, REV2: -1 fraud, 1 benign):
  P(a benign member scores above a fraudulent one), ties half.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np

from reputation.engine import VoteData, get_engine

from .baselines import BASELINES
from .metrics import auc
from .product_path import run_through_product

# ../shared beside the repository.
OTC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "bitcoin_otc_alpha"
RATINGS, LABELS = "soc-sign-bitcoinotc.csv", "otc_gt.csv"
DROPPED = (1, 2125)
VARIANTS = (("all ratings", ()), ("without raters 1, 2125", DROPPED))


def _path(name: str) -> Path:
    path = OTC / name
    if not path.is_file():
        raise FileNotFoundError(
            f"Bitcoin OTC data not found: {path} is missing. The bench reads it from {OTC} "
            "(../shared/data/real/bitcoin_otc_alpha beside the repository: soc-sign-bitcoinotc.csv, otc_gt.csv)."
        )
    return path


def load_ratings() -> np.ndarray:
    """Rows of (rater, ratee, rating, epoch seconds)."""
    rows = np.loadtxt(_path(RATINGS), delimiter=",", ndmin=2)
    if (rows[:, 2] == 0).any() or np.abs(rows[:, 2]).max() > 10:
        raise ValueError(f"{RATINGS}: expected ratings in -10..10 without 0")
    return rows


def load_labels() -> tuple[np.ndarray, np.ndarray]:
    """(labelled member ids, fraud mask)."""
    with open(_path(LABELS)) as f:
        labels = {int(user): int(label) for user, label in csv.reader(f)}
    if set(labels.values()) - {-1, 1}:
        raise ValueError(f"{LABELS}: labels must be -1 (fraud) or 1 (benign)")
    users = np.array(sorted(labels), dtype=np.int64)
    return users, np.array([labels[u] == -1 for u in users])


def otc_votes(drop_raters: tuple[int, ...] = DROPPED, rows: np.ndarray | None = None) -> tuple[VoteData, int]:
    """The protocol's votes (see the module docstring) and the number of member ids."""
    rows = load_ratings() if rows is None else rows
    n = int(rows[:, :2].max()) + 1
    rows = rows[~np.isin(rows[:, 0], drop_raters)]
    src, dst = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
    t = rows[:, 3]
    first = np.full(n, np.inf)
    np.minimum.at(first, src, t)  # a rater joined at their first rating
    voter_ids = np.unique(src)
    data = VoteData(
        voter=src, author=dst, post=dst.copy(),  # one post per rated member
        value=np.sign(rows[:, 2]).astype(np.int8), created=t,
        voter_ids=voter_ids, voter_joined=first[voter_ids],
    )
    return data, n


def run_otc_product(methods: list[str], database: str = "auto", verbose: bool = True) -> list[dict]:
    """Rows {"scenario", "method", "otc_auc", "path", "secs", "votes"} per variant and method.

    "engine" goes through the product; "engine_in_memory" (opt-in, a diagnostic) is the same
    engine fitted in this process on the same votes at the same wall-clock "now" as the product's
    refit; the baselines run in memory. "followers" has no data here and is skipped.
    """
    rows_all = load_ratings()
    users, fraud = load_labels()
    prior = 100 * getattr(get_engine(), "prior_mean", 0.5)
    out = []
    for variant, drop in VARIANTS:
        data, n = otc_votes(drop, rows_all)
        for name in methods:
            if name == "followers":
                continue
            t = time.perf_counter()
            if name == "engine":
                product = run_through_product(data, n_authors=n, database=database, verbose=verbose)
                score, path = product.result(prior).score, f"product ({product.backend})"
            elif name == "engine_in_memory":
                _, s = get_engine().fit(data, time.time())
                score = np.full(n, prior)
                score[s.author_ids] = np.where(np.isnan(s.score), prior, s.score)
                path = "in memory"
            else:
                res = BASELINES[name](data, n, None)
                score, path = np.nan_to_num(res.score, nan=np.nanmedian(res.score)), "in memory"
            secs = time.perf_counter() - t
            s = score[users]
            row = {
                "scenario": f"bitcoin_otc ({variant})", "method": name, "otc_auc": auc(-s[fraud], -s[~fraud]),
                "path": path, "secs": secs, "votes": len(data),
            }
            if verbose:
                print(f"  OTC {variant}: {name} AUC {row['otc_auc']:.4f} ({path}, {secs:.1f}s)", file=sys.stderr)
            out.append(row)
    return out
