"""Prometheus metrics: django-prometheus' request metrics plus Merit's own.

Counters are per process (aggregated across gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set, see
config/gunicorn.py). Gauges about shared state (the outbox, the last refit) are read from the database
at scrape time, so every process reports the same figures, including what the worker did.
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

THROTTLED = Counter(
    "merit_throttled_requests", "Requests refused by a rate limit or a login lockout.", ["scope"]
)
CACHE_HITS = Counter("merit_cache_hits", "Lookups answered from a cache.", ["cache"])
CACHE_MISSES = Counter("merit_cache_misses", "Lookups a cache could not answer.", ["cache"])


def count_lockout(sender=None, **kwargs) -> None:
    """Receives axes' user_locked_out: a login refused for too many failures."""
    THROTTLED.labels("login").inc()


def reading_record(*, name: str, value: float) -> None:
    from .models import Reading

    Reading.objects.update_or_create(name=name, defaults={"value": value, "at": timezone.now()})


class DomainCollector:
    """Gauges read from the database on each scrape (one query per table)."""

    def describe(self):
        return []  # names are not registered up front: collect() needs the database

    def collect(self):
        from reputation.models import PendingRefresh, RefitState

        from .models import Reading

        now = timezone.now()
        try:
            outbox = PendingRefresh.objects.aggregate(
                pending=Count("pk"),
                oldest=Min("marked_at"),
                max_attempts=Max("attempts"),
                stuck=Count("pk", filter=Q(attempts__gte=settings.REPUTATION_OUTBOX_MAX_ATTEMPTS)),
            )
            last_refit = RefitState.objects.order_by("-created_at").values_list("created_at", flat=True).first()
            duration = Reading.objects.filter(name="refit_duration_seconds").values_list("value", flat=True).first()
        except DatabaseError:
            log.warning("metrics: the database did not answer; Merit's gauges are left out", exc_info=True)
            return
        yield _gauge("merit_outbox_pending_authors", "Authors waiting for a reputation refresh (outbox rows).",
                     outbox["pending"])
        yield _gauge(
            "merit_outbox_oldest_seconds",
            "Age of the oldest outbox row since it was marked or last re-queued by the sweep (0 when empty).",
            (now - outbox["oldest"]).total_seconds() if outbox["oldest"] else 0.0,
        )
        yield _gauge("merit_outbox_max_attempts", "Most sweeps any outbox row has been through.",
                     outbox["max_attempts"] or 0)
        yield _gauge("merit_outbox_stuck_authors",
                     "Outbox rows past REPUTATION_OUTBOX_MAX_ATTEMPTS, which the sweep no longer re-queues.",
                     outbox["stuck"])
        if last_refit is not None:
            yield _gauge("merit_last_refit_age_seconds", "Seconds since the last full refit stored its results.",
                         (now - last_refit).total_seconds())
        if duration is not None:
            yield _gauge("merit_refit_duration_seconds", "Wall time of the last full refit the worker ran.", duration)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


domain_collector = DomainCollector()


def register_collector() -> None:
    REGISTRY.register(domain_collector)  # registering it again (a second setup) keeps one copy


def exposition() -> bytes:
    """The text every scrape gets: this process's metrics, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(domain_collector)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
