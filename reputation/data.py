"""Votes and stored credibilities from the database into NumPy arrays, in bulk; what a refit leaves the refresh.

On PostgreSQL everything goes through binary COPY (see `bulk`): votes stream out as fixed-width records
parsed by one `np.frombuffer`. Other databases (SQLite in development) use plain cursors. The results
go back through `data_write`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from . import bulk
from .engine import AuthorScores, Credibility, GroupLinks, VoteData
from .engine.types import narrow

VOTE_KINDS = ("int8", "int8", "int8", "int2", "timestamptz", "bool")
# Casts pin the wire types the parser expects whatever the column types are. Every column is in the
# covering (author, voter) index, so one author's read is an index-only scan.
VOTE_SQL = (
    "SELECT v.voter_id::int8, v.author_id::int8, v.post_id::int8, v.value::int2, v.created_at::timestamptz, "
    "v.solicited::bool FROM votes_vote v"
)
# One author's votes (the refresh): its id is the same on every row, so it does not travel (a fifth less
# to send and decode for the heaviest author's 15k rows).
AUTHOR_VOTES_SQL = (
    "SELECT v.voter_id::int8, v.post_id::int8, v.value::int2, v.created_at::timestamptz, v.solicited::bool "
    "FROM votes_vote v WHERE v.author_id = %s"
)
AUTHOR_VOTE_KINDS = VOTE_KINDS[:1] + VOTE_KINDS[2:]
USERS_SQL = "SELECT id::int8, date_joined::timestamptz FROM auth_user"
OWNERS_SQL = "SELECT id::int8, owner_id::int8 FROM votes_author WHERE owner_id IS NOT NULL"
# Above this size the full refit reads the votes on two connections at once: the server's per-row
# work is what bounds it, and it then runs on two cores.
PARALLEL_MIN_VOTES = 2_000_000


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# --- reading ----------------------------------------------------------------------------


def load_votes(author_id: int | None = None) -> VoteData:
    """All votes (or one author's) as arrays, with the join time of every voter involved.

    All votes (the full refit) are read from a caught-up replica when one is set (`config.db_router`);
    one author's (the refresh after a vote) from the primary, which has that vote.
    """
    from config.db_router import refit_alias

    alias = refit_alias() if author_id is None else DEFAULT_DB_ALIAS
    db = connection if alias == DEFAULT_DB_ALIAS else connections[alias]
    return (_pg_load_votes if is_postgres() else _generic_load_votes)(author_id, db)


def load_author(author_id: int, state: dict | None = None) -> tuple[VoteData, Credibility]:
    """One author's votes and the stored credibility of everyone involved (the per-vote refresh).

    The author's owner is included in the credibilities: the engine needs its group.
    `state` is the last refit's state (`services.refit_state`): on PostgreSQL, the voters of an author
    it packed (`AuthorVoterState`) are read from there, and only the others are asked of the tables.
    """
    if is_postgres():
        votes, cred = _pg_load_author(author_id, state)
    else:
        votes = load_votes(author_id)
        cred = load_credibility(np.union1d(votes.voter_ids, votes.owner_voter))
    # The groups' links, so the author sees the group its own voters form (as the refit did);
    # without a refit state the stored whole groups count.
    if state is not None and "link_edge_u" in state:
        cred.links = GroupLinks(*(state[f"link_{k}"] for k in GroupLinks.ARRAYS)).among(cred.voter_ids)
    # The world's post dispersion (it widens intervals) as the refit measured it over every post.
    if state is not None and "dispersion" in state and len(state["dispersion"]):
        cred.dispersion = float(state["dispersion"][0])
    return votes, cred


def refit_arrays(scores: AuthorScores, ranked: np.ndarray, cred: Credibility) -> dict:
    """What a refit leaves every refreshing process (see `RefitState`): it grows with authors and with
    the links inside groups, not with votes or voters. Per ranked author: id and score."""
    return {
        "ranked_ids": scores.author_ids[ranked],
        "ranked_scores": scores.score[ranked],
        **{f"link_{k}": np.asarray(getattr(cred.links or GroupLinks(), k), np.int64) for k in GroupLinks.ARRAYS},
        "dispersion": np.array([] if cred.dispersion is None else [float(cred.dispersion)]),
    }


def refit_lookup(arrays: dict) -> dict:
    """The refit's state made ready for the refresh (once per refit and process): the ranked scores sorted,
    the group links sorted for `GroupLinks.among`."""
    links = GroupLinks(*(arrays[f"link_{k}"] for k in GroupLinks.ARRAYS)).by_voter()
    return dict(arrays, ranked_sorted=np.sort(rank_key(arrays["ranked_scores"])),
                **{f"link_{k}": getattr(links, k) for k in GroupLinks.ARRAYS})


def rank_key(score):
    """A score as percentiles compare it: to 1e-9 points. A refresh sums an author's votes in another order
    than the refit did (1e-13 apart), and two equal authors must not swap places between the two."""
    return np.round(score, 9)


# One voter as the refit stored it, the columns `_pg_load_author` reads per voter (see AuthorVoterState):
# join time, credibility (-1 = none), group (-1 = none), side (rounded as in VoterCredibility.flags),
# record, change time (inf = never).
VOTER_FIELDS = ("id", "joined", "credibility", "group", "side", "proven", "changed")
VOTER_ROW = np.dtype(list(zip(VOTER_FIELDS, ("<i8", "<f8", "<f8", "<i8", "<f8", "<f8", "<f8"))))


def voter_rows(cred: Credibility, votes: VoteData) -> np.ndarray:
    """Every voter of the refit as `VOTER_ROW` records, sorted by id, with the values the tables hold."""
    ids = votes.voter_ids
    at = np.minimum(np.searchsorted(cred.voter_ids, ids), max(len(cred.voter_ids) - 1, 0))
    has = cred.voter_ids[at] == ids if len(cred.voter_ids) else np.zeros(len(ids), bool)
    rows = np.empty(len(ids), VOTER_ROW)
    rows["id"], rows["joined"] = ids, votes.voter_joined
    for name, col, none in (("credibility", cred.credibility, -1.0), ("group", np.asarray(cred.group, np.int64), -1),
                            ("side", np.round(cred.side, 4), 0.0), ("proven", np.asarray(cred.proven, np.float64), 0.0),
                            ("changed", np.asarray(cred.changed, np.float64), np.inf)):
        rows[name] = np.where(has, col[at], none) if len(cred.voter_ids) else none
    return rows


def pack_voters(votes: VoteData, cred: Credibility, author_ids: np.ndarray) -> list[tuple[int, bytes]]:
    """(author id, its voters' `voter_rows` packed) for each of `author_ids` with votes in `votes`: what
    AuthorVoterState holds. `votes` carries (at least) its own voters' rows of the voter table."""
    heavy = np.isin(votes.author, author_ids)
    if not heavy.any():
        return []
    rows = voter_rows(cred, votes)
    # (author, voter row) pairs, each once, by author then voter: one sort of an int64 key (np.unique
    # over stacked pairs, axis=1, took 1.6 s at 10M votes).
    n = len(rows)
    key = np.unique(votes.author[heavy].astype(np.int64) * n + np.searchsorted(rows["id"], votes.voter[heavy]))
    author, at = key // n, key % n
    ids, starts = np.unique(author, return_index=True)
    ends = np.r_[starts[1:], len(key)]
    return [(int(a), rows[at[s:e]].tobytes()) for a, s, e in zip(ids.tolist(), starts, ends)]


def write_packed(cur, state_id: int, packed: list[tuple[int, bytes]]) -> None:
    if packed:
        bulk.copy_in_bytea(cur, "reputation_authorvoterstate", ["state_id", "author_id", "data"],
                           [(state_id, a, blob) for a, blob in packed])


def write_packed_voters(state_id: int, packed: list[tuple[int, bytes]]) -> None:
    """`pack_voters`' output as the AuthorVoterState rows of refit state `state_id`, in the caller's transaction."""
    with connection.cursor() as c:
        write_packed(bulk.raw_cursor(c), state_id, packed)


@contextmanager
def beside(fn, *args) -> Iterator[None]:
    """fn(*args) in a second thread while the body runs (a second connection's work on a second server
    core); its error is raised here once both are done."""
    import threading

    errors: list[Exception] = []

    def run() -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 (re-raised below, in the caller's thread)
            errors.append(exc)

    other = threading.Thread(target=run, name=f"beside-{getattr(fn, '__name__', 'work')}")
    other.start()
    try:
        yield
    finally:
        other.join()
    if errors:
        raise errors[0]


def _packed_voters(state: dict | None, author_id: int) -> np.ndarray:
    """The refit's packed rows of this author's voters (VOTER_ROW, sorted by id); empty if it packed none.

    Read on its own, before the refresh's transaction: a cache of the refit's rows needs no shared snapshot
    with the votes, and the transaction then locks the same tables as ever (a test's flush TRUNCATEs every
    table at once, and a refresh running in the test's Celery worker deadlocked with it)."""
    if state is None or "state_id" not in state:
        return np.empty(0, VOTER_ROW)
    with connection.cursor() as cur:
        rows = bulk.copy_out_bytea(bulk.raw_cursor(cur), "SELECT data FROM reputation_authorvoterstate "
                                   "WHERE state_id = %s AND author_id = %s", [state["state_id"], author_id])
    return np.frombuffer(rows[0], VOTER_ROW) if rows else np.empty(0, VOTER_ROW)


def _member(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if not len(sorted_ids):
        return np.zeros(len(ids), bool)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return sorted_ids[pos] == ids


# One author's voters (and its owner) by id: join time and stored credibility (-1 = none).
# Asked by the array of ids, not per vote: the heaviest author has 15k votes from 14k voters.
VOTERS_SQL = (
    "SELECT u.id::int8, u.date_joined::timestamptz, COALESCE(c.credibility, -1)::float8, "
    "COALESCE((c.flags->>'group')::int8, -1), COALESCE((c.flags->>'side')::float8, 0), "
    "COALESCE((c.flags->>'proven')::float8, 1), COALESCE((c.flags->>'changed')::float8, 'infinity') "
    "FROM auth_user u LEFT JOIN reputation_votercredibility c ON c.voter_id = u.id WHERE u.id = ANY(%s::int8[])"
)
CRED_KINDS = ("int8", "float8", "int8", "float8", "float8", "float8")
CRED_SQL = (
    # Decodes the two keys of Credibility.flags() in SQL: parsing 500k JSON documents in
    # Python would cost more than the rest of the load. Keep in step with `Credibility.flags`.
    "SELECT c.voter_id::int8, c.credibility::float8, COALESCE((c.flags->>'group')::int8, -1), "
    "COALESCE((c.flags->>'side')::float8, 0), COALESCE((c.flags->>'proven')::float8, 1), "
    "COALESCE((c.flags->>'changed')::float8, 'infinity') FROM reputation_votercredibility c"
)


def _pg_load_author(author_id: int, state: dict | None) -> tuple[VoteData, Credibility]:
    packed = _packed_voters(state, author_id)
    with transaction.atomic(), connection.cursor() as c:
        cur = bulk.raw_cursor(c)
        # A heavy author's plan costs past jit_above_cost, and compiling it takes longer than running it.
        cur.execute("SET LOCAL jit = off")
        # An index-only scan of the covering (author, voter) index.
        voter, post, value, created, solicited = bulk.copy_out(cur, AUTHOR_VOTES_SQL, AUTHOR_VOTE_KINDS, [author_id])
        author = np.full(len(voter), author_id, np.int64)
        owned_author, owner_voter = bulk.copy_out(cur, f"{OWNERS_SQL} AND id = %s", ("int8", "int8"), [author_id])
        ids = np.union1d(voter, owner_voter)
        packed = packed[_member(ids, packed["id"])]  # voters whose votes were retracted since drop out
        known = _member(packed["id"], ids)
        # Rows: id, join time, credibility (-1 = none), group, side, proven, changed; in the server's order.
        asked = [np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.int64), np.empty(0), np.empty(0),
                 np.empty(0)]
        if not known.all():
            asked = bulk.copy_out(cur, VOTERS_SQL, ("int8", "timestamptz") + CRED_KINDS[1:], [bulk.pg_array(ids[~known])])
    ids, joined, cred, group, side, proven, changed = (
        np.concatenate(pair) for pair in zip([packed[k] for k in VOTER_FIELDS], asked)
    )
    votes = _vote_data(voter, author, post, value, created, solicited, ids, joined, owned_author, owner_voter)
    has = cred >= 0
    order = np.argsort(ids[has])
    return votes, Credibility(*(col[has][order] for col in (ids, cred, group, side, proven, changed)))


def _pg_load_votes(author_id: int | None, db=connection) -> VoteData:
    if author_id is None and not db.in_atomic_block and _estimated_votes(db) >= PARALLEL_MIN_VOTES:
        return _pg_load_all_votes_in_parallel(db)
    where, params = ("WHERE v.author_id = %s", [author_id]) if author_id is not None else ("", None)
    with db.cursor() as c:
        cur = bulk.raw_cursor(c)
        voter, author, post, value, created, solicited = bulk.copy_out(cur, f"{VOTE_SQL} {where}", VOTE_KINDS, params)
        if author_id is None:
            users, owners = USERS_SQL, OWNERS_SQL
        else:
            users = f"{USERS_SQL} WHERE id IN (SELECT voter_id FROM votes_vote WHERE author_id = %s)"
            owners = f"{OWNERS_SQL} AND id = %s"
        user_ids, joined = bulk.copy_out(cur, users, ("int8", "timestamptz"), params)
        owned_author, owner_voter = bulk.copy_out(cur, owners, ("int8", "int8"), params)
    return _vote_data(voter, author, post, value, created, solicited, user_ids, joined, owned_author, owner_voter)


def _estimated_votes(db=connection) -> float:
    with db.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'votes_vote'::regclass")
        return float(cur.fetchone()[0])


def _pg_load_all_votes_in_parallel(db=connection) -> VoteData:
    """Two COPY streams over the two halves of the table's pages, in one exported snapshot.

    The shared snapshot makes the halves one consistent read: a vote changed meanwhile
    cannot appear in both halves, or in neither.
    """
    import threading

    conns = [new_connection() if db is connection else new_connection(db) for _ in range(2)]
    try:
        for conn in conns:
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        first, second = (conn.cursor() for conn in conns)
        first.execute(
            "SELECT pg_export_snapshot(), pg_relation_size('votes_vote') / current_setting('block_size')::int8"
        )
        snapshot, pages = first.fetchone()
        second.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
        halves: list = [None, None]
        errors: list[Exception] = []

        def read(i: int, cur, where: str) -> None:
            try:
                halves[i] = bulk.copy_out(cur, f"{VOTE_SQL} WHERE {where}", VOTE_KINDS)
            except Exception as exc:  # noqa: BLE001 (re-raised in the caller's thread)
                errors.append(exc)

        mid = max(int(pages) // 2, 1)
        other = threading.Thread(target=read, args=(1, second, f"v.ctid >= '({mid},0)'::tid"))
        other.start()
        read(0, first, f"v.ctid < '({mid},0)'::tid")
        other.join()
        if errors:
            raise errors[0]
        voter, author, post, value, created, solicited = (np.concatenate(pair) for pair in zip(*halves))
        user_ids, joined = bulk.copy_out(first, USERS_SQL, ("int8", "timestamptz"))
        owned_author, owner_voter = bulk.copy_out(first, OWNERS_SQL, ("int8", "int8"))
    finally:
        for conn in conns:
            conn.close()
    return _vote_data(voter, author, post, value, created, solicited, user_ids, joined, owned_author, owner_voter)


# --- the full refit's votes read by Dask workers (REFIT_BACKEND=dask on PostgreSQL) -------------
# The coordinator reads only the voter and owner tables; each worker task reads a range of vote ids
# by COPY in the coordinator's exported snapshot and splits it by author into the refit's partitions
# (execution.split_by_author's rule); each partition's pieces are then put together on a worker.
RANGE_SQL = VOTE_SQL.replace("SELECT ", "SELECT v.id::int8, ", 1) + " WHERE v.id >= %s AND v.id < %s"


def worker_params(alias: str = DEFAULT_DB_ALIAS, password: bool = False) -> dict:
    """libpq connection parameters of a database alias, for psycopg2.connect where Django is not set up.

    Without the password unless asked: these travel in Dask task arguments (through the scheduler, which
    keeps them and shows them on its dashboard). A worker's libpq finds the password itself, in PGPASSWORD
    or the file PGPASSFILE names (`refit_backend.worker_environment` writes one for the workers it starts)."""
    params = dict(connections[alias].get_connection_params())
    params.pop("cursor_factory", None)  # Django's own cursor class
    if not password:
        params.pop("password", None)
    return params


@contextmanager
def refit_snapshot() -> Iterator[dict]:
    """A read-only REPEATABLE READ transaction on the refit's database (a caught-up replica when set),
    open while the workers read: {"params", "snapshot" (exported, for the workers' reads), "ids" (the
    votes' lowest and highest id, None without votes), "users" (ids, join times), "owners"}."""
    import psycopg2

    from config.db_router import refit_alias

    alias = refit_alias()
    params = worker_params(alias)
    conn = psycopg2.connect(**worker_params(alias, password=True))
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        cur = conn.cursor()
        cur.execute("SELECT pg_export_snapshot(), min(id), max(id) FROM votes_vote")
        snapshot, lo, hi = cur.fetchone()
        users = bulk.copy_out(cur, USERS_SQL, ("int8", "timestamptz"))
        owners = bulk.copy_out(cur, OWNERS_SQL, ("int8", "int8"))
        yield {"params": params, "snapshot": snapshot, "ids": None if lo is None else (int(lo), int(hi)),
               "users": users, "owners": owners}
    finally:
        conn.close()


def read_vote_range(params: dict, snapshot: str, lo: int, hi: int, n_parts: int) -> list:
    """On a worker: the votes with lo <= id < hi as the snapshot sees them, split into the refit's
    `n_parts` partitions by author (each piece in id order); last, (their distinct voters, how many)."""
    import psycopg2

    conn = psycopg2.connect(**params)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        cur = conn.cursor()
        cur.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
        vid, *columns = bulk.copy_out(cur, RANGE_SQL, ("int8", *VOTE_KINDS), [lo, hi])
    finally:
        conn.close()
    key = columns[1] % n_parts  # the author
    order = np.lexsort((vid, key))
    bounds = np.searchsorted(key[order], np.arange(n_parts + 1))
    columns = [c[order] for c in columns]
    pieces = [tuple(c[bounds[i]:bounds[i + 1]] for c in columns) for i in range(n_parts)]
    return [*pieces, (np.unique(columns[0]), len(vid))]


def vote_partition(voters: VoteData, *pieces) -> VoteData:
    """On a worker: one partition from its piece of every range (ranges in id order), in the order
    load_votes gives (by voter, then author, then id), with its own voters' rows of the voter table of
    `voters` (execution.own_voters) and every claim."""
    from .engine.execution import own_voters

    voter, author, post, value, created, solicited = (np.concatenate(c) for c in zip(*pieces))
    voter, author, post, value, created, solicited = _by_voter(
        voter, author, post, value.astype(np.int8), created, solicited.astype(bool)
    )
    voter = narrow(voter)  # 4-byte ids where they fit, as execution.split_by_author makes them
    return VoteData(voter, narrow(author), narrow(post), value, created,
                    *own_voters(voter, voters.voter_ids, voters.voter_joined),
                    voters.owned_author, voters.owner_voter, solicited)


def voter_tables(voter_ids: np.ndarray, users, owners) -> VoteData:
    """The refit's per-voter and per-author tables without any vote: `voter_ids` (sorted) with their
    join times from `users` (ids, join times), and the claimed authors' owners."""
    no = np.empty(0, np.int64)
    return VoteData(no, no, no, np.empty(0, np.int8), np.empty(0), voter_ids, _joined(voter_ids, *users),
                    np.asarray(owners[0], np.int64), np.asarray(owners[1], np.int64), np.empty(0, bool))


def new_connection(db=connection):
    """A separate psycopg2 connection to the same database (for work on a second core)."""
    import psycopg2

    return psycopg2.connect(**db.get_connection_params())


def _generic_load_votes(author_id: int | None, db=connection) -> VoteData:
    where, params = ("WHERE v.author_id = %s", [author_id]) if author_id is not None else ("", [])
    with db.cursor() as cur:
        cur.execute(
            f"SELECT v.voter_id, v.author_id, v.post_id, v.value, {_sqlite_epoch('v.created_at')}, v.solicited "
            f"FROM votes_vote v {where}",
            params,
        )
        arr = np.array(cur.fetchall(), dtype=np.float64).reshape(-1, 6)
        if author_id is None:
            cur.execute(f"SELECT id, {_sqlite_epoch('date_joined')} FROM auth_user")
        else:
            cur.execute(
                f"SELECT id, {_sqlite_epoch('date_joined')} FROM auth_user "
                "WHERE id IN (SELECT voter_id FROM votes_vote WHERE author_id = %s)",
                params,
            )
        users = np.array(cur.fetchall(), dtype=np.float64).reshape(-1, 2)
        cur.execute(
            "SELECT id, owner_id FROM votes_author WHERE owner_id IS NOT NULL" + (" AND id = %s" if params else ""),
            params,
        )
        owners = np.array(cur.fetchall(), dtype=np.int64).reshape(-1, 2)
    return _vote_data(
        arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int64), arr[:, 3],
        arr[:, 4], arr[:, 5], users[:, 0].astype(np.int64), users[:, 1], owners[:, 0], owners[:, 1],
    )


def _sqlite_epoch(column: str) -> str:
    # Fractional seconds kept: julianday has millisecond resolution, strftime('%s') has none.
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def _vote_data(voter, author, post, value, created, solicited, user_ids, joined, owned_author, owner_voter) -> VoteData:
    voter, author, post, value, created, solicited = _by_voter(
        voter, author, post, value.astype(np.int8), created, solicited.astype(bool)
    )
    voter_ids = np.unique(voter)
    return VoteData(
        voter=voter,
        author=author,
        post=post,
        value=value,
        created=created,
        solicited=solicited,
        voter_ids=voter_ids,
        voter_joined=_joined(voter_ids, user_ids, joined),
        owned_author=np.asarray(owned_author, np.int64),
        owner_voter=np.asarray(owner_voter, np.int64),
    )


def _joined(voter_ids: np.ndarray, user_ids: np.ndarray, joined: np.ndarray) -> np.ndarray:
    """Each voter's join time, from the users' (ids, join times)."""
    order = np.argsort(user_ids)
    user_ids, joined = user_ids[order], joined[order]
    pos = np.minimum(np.searchsorted(user_ids, voter_ids), max(len(user_ids) - 1, 0))
    return joined[pos] if len(user_ids) else np.empty(0)


def _by_voter(voter: np.ndarray, author: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """The votes reordered by voter, then author (ties keep their table order).

    The table holds votes in time order; the engine's per-voter passes and its sorts of
    (voter, author) keys run about twice as fast over votes in this order (10M votes: fit
    52 s -> 28 s CPU, the in-memory bench's speed, whose votes come voter-ordered).
    """
    n = len(voter)
    bits = max(n - 1, 1).bit_length()
    if n and voter.min() >= 0 and author.min() >= 0:
        abits = int(author.max()).bit_length()
        if int(voter.max()) < 1 << (63 - abits - bits):
            # One plain sort of (voter, author, row) packed in an int64: far faster than an argsort.
            key = np.sort(
                (voter.astype(np.int64) << (abits + bits)) | (author.astype(np.int64) << bits) | np.arange(n, dtype=np.int64)
            )
            order = key & ((1 << bits) - 1)
            return [key >> (abits + bits), (key >> bits) & ((1 << abits) - 1)] + [col[order] for col in columns]
    order = np.lexsort((author, voter))
    return [voter[order], author[order]] + [col[order] for col in columns]


def load_credibility(voter_ids: np.ndarray | None = None) -> Credibility:
    """Stored credibilities, with their group and side (all, or for the given voters)."""
    if voter_ids is not None and len(voter_ids) == 0:
        return Credibility(np.empty(0, np.int64), np.empty(0))
    if is_postgres():
        if voter_ids is None:
            return _pg_load_credibility("TRUE", None)
        return _pg_load_credibility("c.voter_id = ANY(%s)", [list(map(int, voter_ids))])
    with connection.cursor() as cur:
        sql = "SELECT voter_id, credibility, flags FROM reputation_votercredibility"
        params: list = []
        if voter_ids is not None:
            sql += f" WHERE voter_id IN ({','.join(['%s'] * len(voter_ids))})"
            params = list(map(int, voter_ids))
        cur.execute(sql + " ORDER BY voter_id", params)
        rows = cur.fetchall()
    flags = [json.loads(f) if isinstance(f, str) else (f or {}) for _, _, f in rows]
    return Credibility.from_flags(
        np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.float64), flags
    )


def _pg_load_credibility(where: str, params) -> Credibility:
    with connection.cursor() as c:
        ids, cred, group, side, proven, changed = bulk.copy_out(
            bulk.raw_cursor(c), f"{CRED_SQL} WHERE {where} ORDER BY c.voter_id", CRED_KINDS, params
        )
    return Credibility(ids, cred, group, side, proven, changed)
