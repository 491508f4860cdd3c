"""Thin Celery entry points: ids in, one service call each. All are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import locks, services

REFIT_TIME_LIMIT = 1800


@shared_task(name="reputation.refresh_author", acks_late=True, reject_on_worker_lost=True, time_limit=60, soft_time_limit=45)
def refresh_author(author_id: int) -> None:
    services.author_refresh(author_id=author_id)


@shared_task(name="reputation.sweep_pending_refreshes", acks_late=True, time_limit=60, soft_time_limit=50)
def sweep_pending_refreshes() -> int:
    return services.sweep_pending()


@shared_task(name="reputation.recompute_all", acks_late=True, time_limit=REFIT_TIME_LIMIT, soft_time_limit=1700)
def recompute_all() -> dict | None:
    # One full refit at a time; a second beat tick while one runs is dropped. The lock outlives the
    # task's hard time limit, so it cannot expire while the refit still runs.
    with locks.exclusive("recompute_all", timeout=REFIT_TIME_LIMIT + 60) as held:
        return services.recompute_all() if held else None
