"""Results into the tables, in bulk (PostgreSQL): the refit's and the refresh's writers.

Each writer COPYs into a temporary (or a partitioned refit's staging) table, then one set-based statement
per target table merges it; a partitioned refit stages where its partitions are (`refit_write`) and merges
with the same `merge_*` statements. Other databases (SQLite in development) use plain cursors and
`bulk_create`, in `services`.
"""

from __future__ import annotations

import io
import json

import numpy as np
from django.db import connection, transaction

from . import bulk, data
from .engine import AuthorScores, Credibility

# --- writing (PostgreSQL) ---------------------------------------------------------------
# Each writer: COPY into a temp table, then one set-based statement per target table,
# all in one transaction. Rows go in key order so concurrent single-author writers that
# also lock in key order cannot deadlock with us.


def _staging(cur, name: str, columns: str) -> None:
    cur.execute(f"DROP TABLE IF EXISTS pg_temp.{name}")
    cur.execute(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
    cur.execute("SET LOCAL work_mem = '256MB'")  # hash the 1M-row anti-joins in memory


def _in_transaction(write, *args) -> None:
    with transaction.atomic(), connection.cursor() as c:
        write(bulk.raw_cursor(c), *args)


def on_own_connection(write, *args, params: dict | None = None) -> None:
    """write(cursor, *args) in a transaction of its own, on a new connection (`params`: libpq's, where
    Django is not set up, as on a Dask worker; default, this database's)."""
    import psycopg2

    conn = psycopg2.connect(**params) if params is not None else data.new_connection()
    try:
        with conn, conn.cursor() as cur:  # commits on success, rolls back on error
            write(cur, *args)
    finally:
        conn.close()


def write_credibility(cred: Credibility, now, own_connection: bool = False) -> None:
    (on_own_connection if own_connection else _in_transaction)(_upsert_credibility, cred, now)


def _upsert_credibility(cur, cred: Credibility, now) -> None:
    group = getattr(cred, "group", None)
    side = getattr(cred, "side", None)
    n = len(cred.voter_ids)
    group = np.full(n, -1, np.int64) if group is None else group
    side = np.zeros(n) if side is None else np.round(side, 4)
    changed = np.asarray(cred.changed, np.float64)
    _staging(cur, "h_cred", "voter_id int8, credibility float8, grp int8, side float8, proven float8, changed float8")
    bulk.copy_in(
        cur, "h_cred", ["voter_id", "credibility", "grp", "side", "proven", "changed"],
        [("int8", cred.voter_ids), ("float8", cred.credibility), ("int8", group), ("float8", side),
         ("float8", np.asarray(cred.proven, np.float64)), ("float8", np.where(np.isfinite(changed), changed, np.nan))],
    )
    # The same keys as Credibility.flags(): "changed" is null when the voter never changed.
    cur.execute(
        "INSERT INTO reputation_votercredibility AS t (voter_id, credibility, flags, updated_at) "
        "SELECT voter_id, credibility, jsonb_build_object('group', grp, 'side', side, 'proven', proven, "
        "'changed', CASE WHEN changed = 'NaN' THEN NULL ELSE changed END), %s "
        "FROM h_cred ORDER BY voter_id "
        "ON CONFLICT (voter_id) DO UPDATE SET credibility = EXCLUDED.credibility, "
        "flags = EXCLUDED.flags, updated_at = EXCLUDED.updated_at",
        [now],
    )


REP_COLUMNS = [
    "author_id", "score", "low", "high", "upvotes", "downvotes", "voters", "effective_voters",
    "weight_up", "weight_down", "status", "percentile", "explanation", "algorithm", "updated_at",
]


def write_reputations(scores: AuthorScores, percentile: np.ndarray, algorithm: str, now, empty: dict) -> None:
    """Upsert every scored author; reset the stored authors that have no votes left to `empty`."""
    _in_transaction(_upsert_reputations, scores, percentile, algorithm, now, empty)


def explanation_lines(author_ids: np.ndarray, status: np.ndarray, explanations: list[dict]) -> str:
    """COPY text of (author id, status, explanation JSON) rows."""
    # json.dumps escapes tabs, newlines and non-ASCII; COPY text then only needs backslashes doubled.
    # (A status is one plain word.)
    return "".join(
        f"{a}\t{st}\t{json.dumps(e)}\n" for a, st, e in zip(author_ids.tolist(), np.asarray(status).tolist(), explanations)
    ).replace("\\", "\\\\")


# Staged rows of a write-back: temporary tables on one connection, or a partitioned refit's unlogged
# tables that every partition's connection fills (refit_write). Numbers go as binary COPY; statuses and
# explanations as lines of a text COPY, one JSON document a line (the server parses 100k small
# documents in about a third of the time it takes to parse one array of them).
REP_STAGE = ("author_id int8, score float8, low float8, high float8, upvotes int4, downvotes int4, voters int4, "
             "effective_voters float8, weight_up float8, weight_down float8, percentile float8")
EXP_STAGE = "author_id int8, status text, explanation jsonb"
POST_STAGE = "post_id int8, quality float8, upvotes int4, downvotes int4"
SNAP_STAGE = "author_id int8, score float8, low float8, high float8, votes int4, coordinated float8"


def stage_reputations(cur, rep: str, exp: str, scores: AuthorScores, percentile: np.ndarray) -> None:
    bulk.copy_in(
        cur, rep,
        ["author_id", "score", "low", "high", "upvotes", "downvotes", "voters", "effective_voters",
         "weight_up", "weight_down", "percentile"],
        [("int8", scores.author_ids), ("float8", scores.score), ("float8", scores.low), ("float8", scores.high),
         ("int4", scores.upvotes), ("int4", scores.downvotes), ("int4", scores.voters),
         ("float8", scores.effective_voters), ("float8", scores.weight_up), ("float8", scores.weight_down),
         ("float8", percentile)],
    )
    lines = explanation_lines(scores.author_ids, scores.status, scores.explanations)
    cur.copy_expert(f"COPY {exp} (author_id, status, explanation) FROM STDIN", io.StringIO(lines))


def merge_reputations(cur, rep: str, exp: str, algorithm: str, now, empty: dict) -> None:
    """The staged authors into the table; the stored authors not staged (no votes left) reset to `empty`."""
    cur.execute(
        "UPDATE reputation_authorreputation r SET "
        + ", ".join(f"{k} = %s" for k in empty)
        + ", percentile = NULL, updated_at = %s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {rep} t WHERE t.author_id = r.author_id)",
        [json.dumps(v) if k == "explanation" else v for k, v in empty.items()] + [now],
    )
    cols = ", ".join(REP_COLUMNS)
    cur.execute(
        f"INSERT INTO reputation_authorreputation AS r ({cols}) "
        "SELECT h.author_id, h.score, h.low, h.high, h.upvotes, h.downvotes, h.voters, h.effective_voters, "
        "h.weight_up, h.weight_down, e.status, NULLIF(h.percentile, 'NaN'), e.explanation, %s, %s "
        f"FROM {rep} h JOIN {exp} e ON e.author_id = h.author_id "
        "ORDER BY h.author_id "
        "ON CONFLICT (author_id) DO UPDATE SET "
        + ", ".join(f"{k} = EXCLUDED.{k}" for k in REP_COLUMNS[1:]),
        [algorithm, now],
    )


def _upsert_reputations(cur, scores: AuthorScores, percentile: np.ndarray, algorithm: str, now, empty: dict) -> None:
    _staging(cur, "h_rep", REP_STAGE)
    _staging(cur, "h_exp", EXP_STAGE)
    stage_reputations(cur, "h_rep", "h_exp", scores, percentile)
    merge_reputations(cur, "h_rep", "h_exp", algorithm, now, empty)


def write_post_scores(scores: AuthorScores, now, delete_stale: bool, own_connection: bool = False) -> None:
    """Upsert post scores; with `delete_stale`, drop scores of posts that no longer have a vote.

    `own_connection` writes on a separate connection (and transaction), so that the caller's
    thread can write other tables meanwhile.
    """
    (on_own_connection if own_connection else _in_transaction)(_upsert_post_scores, scores, now, delete_stale)


def stage_post_scores(cur, table: str, scores: AuthorScores) -> None:
    bulk.copy_in(
        cur, table, ["post_id", "quality", "upvotes", "downvotes"],
        [("int8", scores.post_ids), ("float8", scores.post_quality), ("int4", scores.post_upvotes),
         ("int4", scores.post_downvotes)],
    )


def merge_post_scores(cur, table: str, now, delete_stale: bool) -> None:
    if delete_stale:
        # Posts scored now have votes; the second test only runs for the few that are left.
        cur.execute(
            f"DELETE FROM reputation_postscore p WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.post_id = p.post_id) "
            "AND NOT EXISTS (SELECT 1 FROM votes_vote v WHERE v.post_id = p.post_id)"
        )
    cur.execute(
        "INSERT INTO reputation_postscore AS p (post_id, quality, upvotes, downvotes, updated_at) "
        f"SELECT post_id, quality, upvotes, downvotes, %s FROM {table} ORDER BY post_id "
        "ON CONFLICT (post_id) DO UPDATE SET quality = EXCLUDED.quality, upvotes = EXCLUDED.upvotes, "
        "downvotes = EXCLUDED.downvotes, updated_at = EXCLUDED.updated_at",
        [now],
    )


def _upsert_post_scores(cur, scores: AuthorScores, now, delete_stale: bool) -> None:
    _staging(cur, "h_post", POST_STAGE)
    stage_post_scores(cur, "h_post", scores)
    merge_post_scores(cur, "h_post", now, delete_stale)


def write_author_post_scores(author_id: int, scores: AuthorScores, now) -> None:
    """One author's post scores, inside the caller's transaction (the per-author refresh).

    Arrays in, two statements: building a model object per post cost more than the writes.
    """
    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM reputation_postscore p USING votes_post po "
            "WHERE p.post_id = po.id AND po.author_id = %s AND p.post_id <> ALL(%s::int8[])",
            [author_id, bulk.pg_array(scores.post_ids)],
        )
        cur.execute(
            "INSERT INTO reputation_postscore AS p (post_id, quality, upvotes, downvotes, updated_at) "
            "SELECT t.*, %s FROM unnest(%s::int8[], %s::float8[], %s::int4[], %s::int4[]) t ORDER BY 1 "
            "ON CONFLICT (post_id) DO UPDATE SET quality = EXCLUDED.quality, upvotes = EXCLUDED.upvotes, "
            "downvotes = EXCLUDED.downvotes, updated_at = EXCLUDED.updated_at",
            [now, *map(bulk.pg_array, (scores.post_ids, scores.post_quality, scores.post_upvotes, scores.post_downvotes))],
        )




def write_snapshots(scores: AuthorScores, day, own_connection: bool = False) -> None:
    """One snapshot per author for `day`, replacing that day's numbers if it already has one."""
    (on_own_connection if own_connection else _in_transaction)(_upsert_snapshots, scores, day)


# The reversal pass's trace in an author's history: the day a refit first sets aside at least one vote's
# weight (and a tenth of the author's votes) more as coordinated than on the author's previous snapshot.
CORRECTION_NOTE = "Correction: votes from a newly detected coordinated group stopped counting."
_IS_CORRECTION = (
    "s.coordinated - COALESCE((SELECT p.coordinated FROM reputation_reputationsnapshot p "
    "WHERE p.author_id = s.author_id AND p.day < s.day ORDER BY p.day DESC LIMIT 1), s.coordinated) "
    ">= CASE WHEN s.votes > 10 THEN 0.1 * s.votes ELSE 1 END"
)


def mark_corrections(cur, day) -> None:
    """Note the correction on `day`'s snapshots (SQLite and small tables; PostgreSQL uses the staged rows)."""
    cur.execute(
        f"UPDATE reputation_reputationsnapshot AS s SET note = %s "
        f"WHERE s.day = %s AND s.coordinated > 0 AND {_IS_CORRECTION}",
        [CORRECTION_NOTE, day],
    )


def stage_snapshots(cur, table: str, scores: AuthorScores) -> None:
    bulk.copy_in(
        cur, table, ["author_id", "score", "low", "high", "votes", "coordinated"],
        [("int8", scores.author_ids), ("float8", scores.score), ("float8", scores.low), ("float8", scores.high),
         ("int4", np.asarray(scores.upvotes) + np.asarray(scores.downvotes)),
         ("float8", coordinated_weights(scores))],
    )


def merge_snapshots(cur, table: str, day) -> None:
    cur.execute(
        "INSERT INTO reputation_reputationsnapshot AS s (author_id, day, score, low, high, votes, coordinated, note) "
        f"SELECT author_id, %s, score, low, high, votes, coordinated, '' FROM {table} ORDER BY author_id "
        "ON CONFLICT (author_id, day) DO UPDATE SET score = EXCLUDED.score, low = EXCLUDED.low, "
        "high = EXCLUDED.high, votes = EXCLUDED.votes, coordinated = EXCLUDED.coordinated",
        [day],
    )
    # Only authors with coordinated weight can have a correction: index probes for those, not a scan.
    cur.execute(
        f"UPDATE reputation_reputationsnapshot AS s SET note = %s FROM {table} h "
        f"WHERE h.coordinated > 0 AND s.author_id = h.author_id AND s.day = %s AND {_IS_CORRECTION}",
        [CORRECTION_NOTE, day],
    )


def _upsert_snapshots(cur, scores: AuthorScores, day) -> None:
    _staging(cur, "h_snap", SNAP_STAGE)
    stage_snapshots(cur, "h_snap", scores)
    merge_snapshots(cur, "h_snap", day)


def coordinated_weights(scores: AuthorScores) -> np.ndarray:
    coordinated = np.asarray(scores.coordinated_discount, dtype=np.float64)
    return coordinated if len(coordinated) == len(scores.author_ids) else np.zeros(len(scores.author_ids))
