"""Fixed-window rate limits per anonymous client, per user and per API key.

DRF's SimpleRateThrottle keeps a list of timestamps per client (one cache read
and one write of a list that grows with the quota, and lost updates under
concurrency). A counter per window is one atomic INCR, so the quotas of
third-party apps (thousands a minute) cost the same as the anonymous one.
Every throttled response carries X-RateLimit-Limit/Remaining/Reset (epoch
seconds); `BaseApiView` adds them and refunds requests answered with 304.

Far from the limit, a round trip per request is the largest cost of a cached
read, so each process counts locally and adds its count to Redis in batches
(`LocalCounts`); near the limit it syncs on every request, so enforcement
stays exact where it matters.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import cast

from django.core.cache import cache
from knox.models import AuthToken
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework_api_key.models import APIKey

from config.ops.metrics import THROTTLED
from config.ops.net import client_ip

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WHO = {"anon": "anonymous client (per IP address)", "user": "user", "api_key": "API key", "votes": "user's votes"}


def parse_rate(rate: str) -> tuple[int, int]:
    """'120/min' -> (120, 60)."""
    count, _, period = rate.partition("/")
    return int(count), _UNITS[period[0]]


@dataclass
class Window:
    scope: str
    limit: int
    period: int
    count: int
    reset: int  # epoch seconds when the window ends
    key: str

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def refund(self) -> None:
        if self.count > 0:
            if not local_counts.unhit(self.key):
                _counter_decr(self.key)
            self.count -= 1


@dataclass
class _Tally:
    known: int  # the shared count at the last sync
    pending: int = 0  # hits counted here since then, not yet in Redis
    synced_at: float = field(default_factory=time.monotonic)


class LocalCounts:
    """Per-process batching of window counters.

    A process may hold back at most (limit - known) / SLACK_DIVISOR hits (and at most MAX_PENDING, for at
    most SYNC_SECONDS), so with W processes the shared count lags the truth by at most W / SLACK_DIVISOR of
    the remaining quota: 4 gunicorn workers can overshoot a limit by about 6% of it, never more; once fewer
    than SLACK_DIVISOR requests remain, every request syncs and the limit is exact.
    """

    SLACK_DIVISOR = 64
    MAX_PENDING = 32
    SYNC_SECONDS = 1.0

    def __init__(self):
        self.lock = threading.Lock()
        self.tallies: dict[str, _Tally] = {}

    def hit(self, key: str, limit: int, ttl: int) -> int:
        with self.lock:
            tally = self.tallies.get(key)
            if tally is not None:
                tally.pending += 1
                slack = min(self.MAX_PENDING, (limit - tally.known) // self.SLACK_DIVISOR)
                if tally.pending <= slack and time.monotonic() - tally.synced_at < self.SYNC_SECONDS:
                    return tally.known + tally.pending
                batch, tally.pending = tally.pending, 0
            else:
                batch = 1
                if len(self.tallies) > 10000:  # old windows' keys; their windows have ended
                    self.tallies.clear()
        count = _counter_incr(key, ttl, batch)
        with self.lock:
            tally = self.tallies.setdefault(key, _Tally(known=0))
            tally.known, tally.synced_at = max(tally.known, count), time.monotonic()
            return tally.known + tally.pending

    def unhit(self, key: str) -> bool:
        """Take back a hit still held locally; False if it already reached Redis."""
        with self.lock:
            tally = self.tallies.get(key)
            if tally is None or tally.pending == 0:
                return False
            tally.pending -= 1
            return True

    def clear(self) -> None:
        with self.lock:
            self.tallies.clear()


local_counts = LocalCounts()


def _redis():
    """The raw client behind django-redis, or None with another cache backend (dev: LocMemCache)."""
    from django.core.cache import caches
    from django_redis.cache import RedisCache

    backend = caches["default"]
    return backend.client.get_client(write=True) if isinstance(backend, RedisCache) else None


def _counter_incr(key: str, ttl: int, amount: int = 1) -> int:
    client = _redis()
    if client is None:
        try:
            return cache.incr(key, amount)
        except ValueError:  # first request of this window
            return amount if cache.add(key, amount, ttl) else cache.incr(key, amount)
    import redis

    # One round trip; the window's first hit also starts its expiry clock.
    redis_key = cache.make_key(key)
    try:
        count = client.incrby(redis_key, amount)
        if count == amount:
            client.expire(redis_key, ttl)
        return count
    except redis.RedisError:  # Redis down: fail open, like the rest of the cache
        return 0


def _counter_decr(key: str) -> None:
    client = _redis()
    if client is None:
        cache.decr(key)
        return
    import redis

    with contextlib.suppress(redis.RedisError):  # Redis down: the refund is lost, like the rest of the cache
        client.decr(cache.make_key(key))


def hit(scope: str, ident: str) -> Window:
    # The stubs type the rates as numbers; DRF's setting holds strings such as "100/min".
    limit, period = parse_rate(cast(str, api_settings.DEFAULT_THROTTLE_RATES[scope]))
    start = int(time.time() // period * period)
    key = f"api:rl:{scope}:{ident}:{start}"
    count = local_counts.hit(key, limit, period + 1)
    return Window(scope, limit, period, count, start + period, key)


class _CountingThrottle(BaseThrottle):
    """Counts the request in one window, records it on the request for the response headers."""

    def scope_and_ident(self, request) -> tuple[str, str] | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        found = self.scope_and_ident(request)
        if found is None:
            return True
        self.window = hit(*found)
        request._request.rate_windows = [*getattr(request._request, "rate_windows", []), self.window]
        if self.window.count <= self.window.limit:
            return True
        THROTTLED.labels(self.window.scope).inc()
        return False

    def wait(self) -> float:
        return max(1.0, self.window.reset - time.time())

    def get_ident(self, request) -> str:
        """The client address. Unlike DRF's default, X-Forwarded-For is trusted only when NUM_PROXIES says
        how many proxies sit in front (ops.net.client_ip, shared with the login and sign-up limits)."""
        return client_ip(request)


class IdentityThrottle(_CountingThrottle):
    """One quota per caller: API key (by key id), user (by id) or anonymous client (by IP)."""

    def scope_and_ident(self, request):
        if isinstance(request.auth, APIKey):
            return "api_key", request.auth.prefix
        if request.user.is_authenticated:
            return "user", str(request.user.pk)
        return "anon", self.get_ident(request)


class VoteThrottle(_CountingThrottle):
    """An extra, smaller quota on writes by a user token."""

    def scope_and_ident(self, request):
        if request.method in ("GET", "HEAD", "OPTIONS") or not isinstance(request.auth, AuthToken):
            return None
        return "votes", str(request.user.pk)


def describe(window: Window) -> str:
    unit = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}.get(window.period, f"{window.period} s")
    return f"The {_WHO.get(window.scope, window.scope)} quota is {window.limit} requests per {unit}."
