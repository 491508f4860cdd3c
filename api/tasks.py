"""Thin Celery entry points for the API app: ids in, one service call each. All are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services, webhooks


@shared_task(name="api.prune_expired_logins", acks_late=True, time_limit=300, soft_time_limit=240)
def prune_expired_logins() -> dict:
    return services.logins_prune()


@shared_task(name="api.dispatch_webhooks", acks_late=True, time_limit=60, soft_time_limit=50)
def dispatch_webhooks() -> int:
    return webhooks.webhooks_dispatch()


@shared_task(name="api.deliver_webhook", bind=True, acks_late=True, max_retries=None, time_limit=60, soft_time_limit=45)
def deliver_webhook(self, delivery_id: int) -> None:
    # The delivery row counts attempts and caps them (WEBHOOK_MAX_ATTEMPTS); Celery only waits the backoff.
    delay = webhooks.delivery_attempt(delivery_id)
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task(name="api.forget_cards_again", time_limit=60)
def forget_cards_again(author_ids: list[int] | None) -> None:
    services.cards_forget(author_ids=author_ids, again=True)


@shared_task(name="api.forget_post_cards_again", time_limit=60)
def forget_post_cards_again(posts: list[list[str]]) -> None:
    services.post_cards_forget(posts=[(platform, post_id) for platform, post_id in posts], again=True)
