"""Thin Celery entry points for the API app: ids in, one service call each. All are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="api.prune_expired_logins", acks_late=True, time_limit=300, soft_time_limit=240)
def prune_expired_logins() -> dict:
    return services.logins_prune()
