"""Where the full refit runs: in this process, or on a Dask cluster (settings.REFIT_BACKEND).

The engine's refit is one algorithm in stages over partitions of whole authors
(reputation/engine/refit.py); this module only chooses the executor. With "dask" it connects to
DASK_SCHEDULER_ADDRESS, or starts a LocalCluster for the one refit (DASK_WORKERS worker processes of
DASK_MEMORY_LIMIT each, spilling to disk beyond it; threads in this process where it may not start
processes, as inside a Celery prefork worker).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from reputation.engine import VoteData

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
def executor(votes: VoteData, backend: str | None = None, workers: int | None = None) -> Iterator[object | None]:
    """The executor for a refit of `votes` (None: the engine's own, in this process)."""
    backend = backend or settings.REFIT_BACKEND
    if backend not in BACKENDS:
        raise ValueError(f"Unknown refit backend {backend!r}: use one of {', '.join(BACKENDS)} (REFIT_BACKEND).")
    if backend == "local":
        yield None
        return
    from distributed import Client, LocalCluster

    from reputation.engine.execution import OnDask

    cluster = None
    if settings.DASK_SCHEDULER_ADDRESS:
        client = Client(settings.DASK_SCHEDULER_ADDRESS)
    else:
        # A daemonic process (a Celery prefork child) may not start processes: its cluster is threads.
        processes = not multiprocessing.current_process().daemon
        cluster = LocalCluster(n_workers=workers or settings.DASK_WORKERS, threads_per_worker=1, processes=processes,
                               memory_limit=settings.DASK_MEMORY_LIMIT, dashboard_address=None,
                               scheduler_kwargs=NO_DASHBOARD)
        client = Client(cluster)
    ex = None
    try:
        n_workers = len(client.scheduler_info()["workers"]) or 1
        ex = OnDask(client, votes, settings.DASK_PARTITIONS or 2 * n_workers)
        yield ex
    finally:
        if ex is not None:
            ex.close()
        client.close()
        if cluster is not None:
            cluster.close()
