"""Thin Celery entry points for votes: ids in, one service call each. All are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import previews

# Longer waits are left to the beat sweep (the row's next_attempt_at): a Redis broker hands a countdown task
# held past its visibility timeout to a second worker, so hours-long countdowns would run twice.
RETRY_IN_BROKER_MAX = 600


@shared_task(name="votes.fetch_preview", bind=True, acks_late=True, max_retries=None, time_limit=60, soft_time_limit=45)
def fetch_preview(self, post_id: int) -> None:
    # The preview row counts attempts and caps them (PREVIEW_MAX_ATTEMPTS); Celery only waits the backoff.
    delay = previews.preview_fetch(post_id=post_id)
    if delay is not None and delay <= RETRY_IN_BROKER_MAX:
        raise self.retry(countdown=delay)


@shared_task(name="votes.dispatch_previews", acks_late=True, time_limit=120, soft_time_limit=100)
def dispatch_previews() -> int:
    queued = previews.previews_dispatch()
    if queued:  # a trailing run, after any flag that held a post back has lapsed (see previews.DISPATCH_FLAG_TTL)
        dispatch_previews.apply_async(countdown=previews.DISPATCH_FLAG_TTL + previews.DISPATCH_DELAY)
    return queued


@shared_task(name="votes.sweep_previews", acks_late=True, time_limit=120, soft_time_limit=100)
def sweep_previews() -> int:
    return previews.previews_sweep()


@shared_task(name="votes.expire_claims", acks_late=True, time_limit=60, soft_time_limit=50)
def expire_claims() -> int:
    from . import claims

    return claims.claims_expire()
