"""/healthz (the process answers) and /readyz (what it depends on answers), with django-health-check.

/readyz checks what this deployment is configured with: the database; the cache; the broker (Redis by a
PING, kombu's file-system broker by its folder); and that the outbox is not stuck. Any failure answers 503
with the failing check named.
"""

from __future__ import annotations

import dataclasses
import os

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView


@dataclasses.dataclass
class Outbox(HealthCheck):
    """Refreshes the sweep gave up on (REPUTATION_OUTBOX_MAX_ATTEMPTS re-queues without completing)."""

    def run(self) -> None:
        from django.db import connection

        from reputation.services import outbox_stuck_count

        try:
            stuck = outbox_stuck_count()
        finally:
            connection.close()  # this runs on an executor thread: no request cycle closes it
        if stuck:
            raise ServiceUnavailable(f"{stuck} author refreshes stuck in the outbox")


@dataclasses.dataclass
class BrokerFolder(HealthCheck):
    """kombu's file-system broker (`make run`): its message folder must be writable."""

    path: str = ""

    def run(self) -> None:
        if not os.access(self.path, os.W_OK):
            raise ServiceUnavailable("broker folder is not writable")


def _redis_client(url: str):
    from redis.asyncio import Redis as AsyncRedis

    return lambda: AsyncRedis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


class ReadyView(HealthCheckView):
    def get_checks(self):
        yield Database()
        yield Cache()
        broker = settings.CELERY_BROKER_URL
        if broker.startswith(("redis://", "rediss://")):
            yield Redis(client_factory=_redis_client(broker))
        elif broker.startswith("filesystem://"):
            yield BrokerFolder(path=settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        yield Outbox()

    async def get(self, request, *args, **kwargs):
        response = await super().get(request, *args, **kwargs)
        if any(result.error for result in self.results):
            response.status_code = 503  # the library says 500; a probe reads 503 as "not ready"
        return response

    def render_to_response(self, context, **response_kwargs):
        # JSON whatever the Accept header says (the library's HTML page has an inline style the CSP refuses).
        return self.render_to_response_json(response_kwargs.get("status", 200))


@never_cache
def healthz(request):
    """Liveness: the process serves requests. Touches no service, so a database outage does not restart it."""
    return JsonResponse({"status": "ok"})
