"""Where the full refit runs: in this process, or on a Dask cluster (settings.REFIT_BACKEND).

The engine's refit is one algorithm in stages over partitions of whole authors
(reputation/engine/refit.py); this module chooses the executor and where the votes are read. With
"dask" it connects to DASK_SCHEDULER_ADDRESS, or starts a LocalCluster for the one refit (DASK_WORKERS
worker processes of DASK_MEMORY_LIMIT each, spilling to disk beyond it; threads in this process where
it may not start processes, as inside a Celery prefork worker). On PostgreSQL the workers then read
the votes themselves, each a range of vote ids (`load`); this process reads only the voter tables.
"""

from __future__ import annotations

import multiprocessing
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db import connection

from reputation import data
from reputation.engine import VoteData

if TYPE_CHECKING:
    from reputation.engine.execution import OnDask

BACKENDS = ("local", "dask")
# No dashboard, and the scheduler's HTTP server (health, metrics) on a free port, not 8787 (a second
# cluster on one machine would otherwise take another port with a warning).
NO_DASHBOARD = {"dashboard_address": ":0"}


def check_settings(app_configs=None, **kwargs) -> list:
    """A Django system check: REFIT_BACKEND names a backend, and "dask" can be imported."""
    from django.core.checks import Error

    if settings.REFIT_BACKEND not in BACKENDS:
        return [Error(f"REFIT_BACKEND={settings.REFIT_BACKEND!r} is not a refit backend.",
                      hint=f"Use one of: {', '.join(BACKENDS)}.", id="reputation.E001")]
    if settings.REFIT_BACKEND == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            return [Error("REFIT_BACKEND=dask needs the distributed package.",
                          hint="Install the project's requirements (make install).", id="reputation.E002")]
    return []


@contextmanager
def cluster(backend: str | None = None, workers: int | None = None) -> Iterator[object | None]:
    """A Dask client for the refit (None: the refit runs in this process)."""
    backend = backend or settings.REFIT_BACKEND
    if backend not in BACKENDS:
        raise ValueError(f"Unknown refit backend {backend!r}: use one of {', '.join(BACKENDS)} (REFIT_BACKEND).")
    if backend == "local":
        yield None
        return
    from distributed import Client, LocalCluster

    if settings.DASK_SCHEDULER_ADDRESS:  # its workers find the database password in their own environment
        client = Client(settings.DASK_SCHEDULER_ADDRESS)
        try:
            yield client
        finally:
            client.close()
        return
    # A daemonic process (a Celery prefork child) may not start processes: its cluster is threads.
    processes = not multiprocessing.current_process().daemon
    with worker_environment(processes) as env:
        local = LocalCluster(n_workers=workers or settings.DASK_WORKERS, threads_per_worker=1, processes=processes,
                             memory_limit=settings.DASK_MEMORY_LIMIT, dashboard_address=None,
                             scheduler_kwargs=NO_DASHBOARD, **({"env": env} if processes else {}))
        client = Client(local)
        try:
            yield client
        finally:
            client.close()
            local.close()


@contextmanager
def worker_environment(processes: bool = True) -> Iterator[dict]:
    """The environment the refit's own workers need to connect (data.worker_params sends no password):
    PGPASSFILE naming a file only this user can read, with the password of each database alias that has
    one, removed when the cluster is done. Worker processes get it as their environment; threads (inside
    a Celery worker) share this process's, so PGPASSFILE is set here meanwhile. {} when no alias has a
    password (trust or peer authentication, or a password already in PGPASSWORD / ~/.pgpass)."""
    import os
    import tempfile

    from django.db import connections

    lines = []
    for alias in connections:
        p = connections[alias].get_connection_params()
        if p.get("password"):
            fields = [p.get("host") or "*", p.get("port") or "*", p.get("dbname") or p.get("database") or "*",
                      p.get("user") or "*", p["password"]]
            lines.append(":".join(str(f).replace("\\", "\\\\").replace(":", "\\:") for f in fields))
    if not lines:
        yield {}
        return
    fd, path = tempfile.mkstemp(prefix="merit-pgpass-")  # mode 0600, as libpq requires
    before = os.environ.get("PGPASSFILE")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        if not processes:
            os.environ["PGPASSFILE"] = path
        yield {"PGPASSFILE": path}
    finally:
        if not processes:
            if before is None:
                os.environ.pop("PGPASSFILE", None)
            else:
                os.environ["PGPASSFILE"] = before
        os.unlink(path)


def _partitions(client, votes: int = 0) -> int:
    """DASK_PARTITIONS, or two per worker and more where `votes` would make one over DASK_PARTITION_VOTES."""
    per_worker = 2 * (len(client.scheduler_info()["workers"]) or 1)
    return settings.DASK_PARTITIONS or max(per_worker, -(-votes // max(settings.DASK_PARTITION_VOTES, 1)))


@contextmanager
def executor(votes: VoteData, backend: str | None = None, workers: int | None = None) -> Iterator[object | None]:
    """The executor for a refit of `votes` read here (None: the engine's own, in this process)."""
    from reputation.engine.execution import OnDask

    with cluster(backend, workers) as client:
        if client is None:
            yield None
            return
        ex = OnDask(client, votes, _partitions(client, len(votes)))
        try:
            yield ex
        finally:
            ex.close()


def load(client) -> tuple[VoteData, OnDask | None, int]:
    """The votes of a full refit, the executor holding them (None: in this process) and how many.

    With a Dask client on PostgreSQL the workers read the votes (`_load_on_workers`) and the
    VoteData returned holds only the voter tables; otherwise every vote is read here (SQLite, or
    inside a transaction, whose uncommitted rows other connections cannot see) and sent to them.
    """
    from reputation.engine.execution import OnDask

    if client is not None and data.is_postgres() and not connection.in_atomic_block:
        loaded = _load_on_workers(client)
        if loaded is not None:
            return loaded
    votes = data.load_votes()
    return votes, None if client is None else OnDask(client, votes, _partitions(client, len(votes))), len(votes)


def _load_on_workers(client, n_parts: int | None = None) -> tuple[VoteData, OnDask, int] | None:
    """Each worker task reads a range of vote ids by COPY and splits it by author; each partition's
    pieces are then put together on a worker (a shuffle through futures). None: no votes."""
    from reputation.engine.execution import OnDask

    with data.refit_snapshot() as snap:
        if snap["ids"] is None:
            return None
        lo, hi = snap["ids"]
        n_parts = n_parts or _partitions(client, hi - lo + 1)  # the id range bounds the vote count
        edges = np.unique(np.linspace(lo, hi + 1, n_parts + 1).astype(np.int64))
        ranges = [client.submit(data.read_vote_range, snap["params"], snap["snapshot"], int(a), int(b), n_parts,
                                pure=False) for a, b in zip(edges[:-1], edges[1:])]
        # Every range read (so the snapshot may close): its distinct voters and size come back.
        tails = client.gather([client.submit(operator.getitem, r, n_parts, pure=False) for r in ranges])
    voters = data.voter_tables(np.unique(np.concatenate([t[0] for t in tails])), snap["users"], snap["owners"])
    shared = client.scatter(voters, broadcast=True, hash=False)
    parts = [client.submit(data.vote_partition, shared,
                           *[client.submit(operator.getitem, r, p, pure=False) for r in ranges], pure=False)
             for p in range(n_parts)]
    return voters, OnDask.holding(client, parts), sum(int(t[1]) for t in tails)
