"""A partitioned refit's results into the tables (PostgreSQL, outside a caller's transaction).

Each partition COPYs its authors, posts and snapshots into unlogged staging tables where it is (a Dask
worker, or this process; `stage_partition`), with the percentiles this process ranked from the gathered
scores alone, and writes its heavy authors' packed voters (AuthorVoterState). This process then merges
each staging table into its table in one sorted, set-based statement (`merge`), as a one-connection
write-back does from its temporary tables: fifty partitions each merging into the 10M-row post scores
touched every page of its index fifty times (write-back 198.6 s at 100M votes, against 106.2 s for one
merge from the coordinator). The staging tables are this refit's own and dropped at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from django.db import connection, transaction

from . import bulk, data, data_write
from .engine import AuthorScores, Credibility, VoteData

STAGES = ("rep", "exp", "post", "snap")
# Staging tables whose refit is gone: each carries, as its comment, the process id and start time of the
# server process of the refit that made it; that pair names one live connection, or none.
_ORPHANS_SQL = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'refit\\_%%' "
    "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a "
    "WHERE obj_description(c.oid, 'pg_class') = a.pid || ' ' || a.backend_start)"
)


@contextmanager
def staging_tables() -> Iterator[dict]:
    """This refit's staging tables, created unlogged (committed: other connections fill them) and dropped after;
    first, those a killed refit left (`_ORPHANS_SQL`)."""
    tag = uuid.uuid4().hex[:12]
    tables = {kind: f"refit_{tag}_{kind}" for kind in STAGES}
    columns = {"rep": data_write.REP_STAGE, "exp": data_write.EXP_STAGE, "post": data_write.POST_STAGE, "snap": data_write.SNAP_STAGE}
    with connection.cursor() as cur:
        cur.execute(_ORPHANS_SQL)
        orphans = [name for (name,) in cur.fetchall()]
        if orphans:
            cur.execute("DROP TABLE IF EXISTS " + ", ".join(orphans))
        cur.execute("SELECT pg_backend_pid() || ' ' || backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        (owner,) = cur.fetchone()
        for kind, name in tables.items():
            cur.execute(f"CREATE UNLOGGED TABLE {name} ({columns[kind]})")
            cur.execute(f"COMMENT ON TABLE {name} IS %s", [owner])
    try:
        yield tables
    finally:
        with connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS " + ", ".join(tables.values()))


def stage_partition(scores: AuthorScores, votes: VoteData, params: dict, tables: dict, ranked_ids: np.ndarray,
                    ranked_pct: np.ndarray, state_id: int, cred: Credibility, pack_authors: np.ndarray) -> None:
    """Where a partition is: its rows into the staging `tables`, and the packed voters of its
    `pack_authors` into refit state `state_id`, in one transaction of its own. `ranked_ids` (sorted) and
    `ranked_pct` are every ranked author's percentile."""
    pct = np.full(len(scores.author_ids), np.nan)
    if len(ranked_ids):
        at = np.minimum(np.searchsorted(ranked_ids, scores.author_ids), len(ranked_ids) - 1)
        hit = ranked_ids[at] == scores.author_ids
        pct[hit] = ranked_pct[at[hit]]

    def rows(cur) -> None:
        data_write.stage_reputations(cur, tables["rep"], tables["exp"], scores, pct)
        data_write.stage_post_scores(cur, tables["post"], scores)
        data_write.stage_snapshots(cur, tables["snap"], scores)
        data.write_packed(cur, state_id, data.pack_voters(votes, cred, pack_authors))

    data_write.on_own_connection(rows, params=params)


def merge(tables: dict, algorithm: str, now, day, empty: dict) -> None:
    """Every staged row into its table: the authors (those not staged reset to `empty`) on this
    connection while the posts (those not staged and without votes deleted) and the snapshots go on a
    second (two server cores)."""
    def posts_and_snapshots(cur) -> None:
        data_write.merge_post_scores(cur, tables["post"], now, delete_stale=True)
        data_write.merge_snapshots(cur, tables["snap"], day)

    for name in tables.values():  # what the planner knows of a freshly filled table is nothing
        with connection.cursor() as cur:
            cur.execute(f"ANALYZE {name}")
    with data.beside(data_write.on_own_connection, posts_and_snapshots), transaction.atomic(), connection.cursor() as c:
        data_write.merge_reputations(bulk.raw_cursor(c), tables["rep"], tables["exp"], algorithm, now, empty)
