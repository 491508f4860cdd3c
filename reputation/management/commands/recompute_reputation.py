"""`manage.py recompute_reputation`: the full refit, run synchronously with progress.

Calls `reputation.services.recompute_all`, the same function the periodic Celery
task runs, under the same lock so the two never refit at once.
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from reputation import locks, refit_backend
from reputation.services import recompute_all
from reputation.tasks import REFIT_TIME_LIMIT


class Command(BaseCommand):
    help = "Recompute every voter's credibility and every author's reputation from the votes table."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true",
            help="run even if another full recompute holds the lock (e.g. one that crashed)",
        )
        parser.add_argument(
            "--backend", choices=refit_backend.BACKENDS, default=None,
            help="where the refit runs: in this process (local) or on Dask (dask: the cluster at "
            "DASK_SCHEDULER_ADDRESS, else a LocalCluster started for this refit); default REFIT_BACKEND",
        )
        parser.add_argument("--workers", type=int, default=None,
                            help="worker processes of the LocalCluster the dask backend starts (default DASK_WORKERS)")

    def handle(self, *args, force: bool, verbosity: int, backend: str | None = None, workers: int | None = None,
               **options):
        if workers is not None and workers < 1:
            raise CommandError("--workers must be at least 1.")
        # The lock the periodic task takes (reputation.locks); released only by its holder.
        with locks.exclusive("recompute_all", timeout=REFIT_TIME_LIMIT + 60) as held:
            if not held and not force:
                raise CommandError(
                    "Another full recompute is running (the periodic task or this command). "
                    "Wait for it, or pass --force if it crashed."
                )
            self.refit(verbosity, backend, workers)

    def refit(self, verbosity: int, backend: str | None = None, workers: int | None = None) -> None:
        bars: list[tqdm] = []  # one bar per stage, each left on screen when the next starts

        def progress(stage: str, done: int, total: int) -> None:
            if verbosity < 1:
                return
            if not bars or bars[-1].desc != stage:
                if bars:
                    bars[-1].close()
                bars.append(tqdm(total=total, desc=stage, unit="row", file=sys.stderr))
            bar = bars[-1]
            bar.total = total
            bar.update(done - bar.n)

        started = time.perf_counter()
        try:
            result = recompute_all(progress=progress, backend=backend, workers=workers)
        finally:
            if bars:
                bars[-1].close()
        elapsed = time.perf_counter() - started
        if verbosity >= 1:
            self.stdout.write(self.style.SUCCESS(
                f"Recomputed {result.get('authors', 0):,} authors from {result.get('votes', 0):,} votes "
                f"by {result.get('voters', 0):,} voters in {elapsed:.1f}s."
            ))
            steps = ", ".join(f"{k} {v:.1f}s" for k, v in result.items() if isinstance(v, float))
            if steps:
                self.stdout.write(f"  timings: {steps}")
