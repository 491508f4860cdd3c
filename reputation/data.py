"""Moving votes between the database and NumPy arrays, in bulk."""

from __future__ import annotations

import numpy as np
from django.db import connection

from .engine import Credibility, VoteData


def _epoch(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})::float8"
    return f"CAST(strftime('%s', {column}) AS REAL)"


def load_votes(author_id: int | None = None) -> VoteData:
    """All votes (or one author's) as arrays, with the join time of every voter involved."""
    where, params = ("WHERE v.author_id = %s", [author_id]) if author_id is not None else ("", [])
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT v.voter_id, v.author_id, v.post_id, v.value, {_epoch('v.created_at')} "
            f"FROM votes_vote v {where}",
            params,
        )
        rows = cur.fetchall()
        arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
        voter_ids = np.unique(arr[:, 0].astype(np.int64))
        joined = _voter_join_times(cur, voter_ids, whole_table=author_id is None)
    return VoteData(
        voter=arr[:, 0].astype(np.int64),
        author=arr[:, 1].astype(np.int64),
        post=arr[:, 2].astype(np.int64),
        value=arr[:, 3].astype(np.int8),
        created=arr[:, 4],
        voter_ids=voter_ids,
        voter_joined=joined,
    )


def _voter_join_times(cur, voter_ids: np.ndarray, whole_table: bool) -> np.ndarray:
    if not len(voter_ids):
        return np.empty(0)
    if whole_table:
        cur.execute(f"SELECT id, {_epoch('date_joined')} FROM auth_user")
    else:
        placeholders = ",".join(["%s"] * len(voter_ids))
        cur.execute(f"SELECT id, {_epoch('date_joined')} FROM auth_user WHERE id IN ({placeholders})", list(map(int, voter_ids)))
    users = np.array(cur.fetchall(), dtype=np.float64).reshape(-1, 2)
    order = np.argsort(users[:, 0])
    ids, times = users[order, 0].astype(np.int64), users[order, 1]
    return times[np.searchsorted(ids, voter_ids)]


def load_credibility(voter_ids: np.ndarray | None = None) -> Credibility:
    """Stored credibilities (all, or for the given voters)."""
    with connection.cursor() as cur:
        if voter_ids is None:
            cur.execute("SELECT voter_id, credibility FROM reputation_votercredibility ORDER BY voter_id")
        elif len(voter_ids) == 0:
            return Credibility(np.empty(0, np.int64), np.empty(0))
        else:
            placeholders = ",".join(["%s"] * len(voter_ids))
            cur.execute(
                f"SELECT voter_id, credibility FROM reputation_votercredibility "
                f"WHERE voter_id IN ({placeholders}) ORDER BY voter_id",
                list(map(int, voter_ids)),
            )
        rows = np.array(cur.fetchall(), dtype=np.float64).reshape(-1, 2)
    return Credibility(rows[:, 0].astype(np.int64), rows[:, 1])
