"""Fixed-window rate limits per anonymous client, per user and per API key.

DRF's SimpleRateThrottle keeps a list of timestamps per client (one cache read
and one write of a list that grows with the quota, and lost updates under
concurrency). A counter per window is one atomic INCR, so the quotas of
third-party apps (thousands a minute) cost the same as the anonymous one.
Every throttled response carries X-RateLimit-Limit/Remaining/Reset (epoch
seconds); `BaseApiView` adds them and refunds requests answered with 304.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache
from knox.models import AuthToken
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework_api_key.models import APIKey

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
            _counter_decr(self.key)
            self.count -= 1


def _redis():
    """The raw client behind django-redis, or None with another cache backend (dev: LocMemCache)."""
    from django.core.cache import caches
    from django_redis.cache import RedisCache

    backend = caches["default"]
    return backend.client.get_client(write=True) if isinstance(backend, RedisCache) else None


def _counter_incr(key: str, ttl: int) -> int:
    client = _redis()
    if client is None:
        try:
            return cache.incr(key)
        except ValueError:  # first request of this window
            return 1 if cache.add(key, 1, ttl) else cache.incr(key)
    import redis

    # One round trip per request; the window's first hit also starts its expiry clock.
    redis_key = cache.make_key(key)
    try:
        count = client.incr(redis_key)
        if count == 1:
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

    try:
        client.decr(cache.make_key(key))
    except redis.RedisError:
        pass


def hit(scope: str, ident: str) -> Window:
    limit, period = parse_rate(api_settings.DEFAULT_THROTTLE_RATES[scope])
    start = int(time.time() // period * period)
    key = f"api:rl:{scope}:{ident}:{start}"
    count = _counter_incr(key, period + 1)
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
        return self.window.count <= self.window.limit

    def wait(self) -> float:
        return max(1.0, self.window.reset - time.time())

    def get_ident(self, request) -> str:
        """The client address. Unlike DRF's default, X-Forwarded-For is trusted only when NUM_PROXIES says
        how many proxies sit in front; otherwise any client could pick a fresh address per request."""
        remote_addr = request.META.get("REMOTE_ADDR", "")
        num_proxies = api_settings.NUM_PROXIES
        xff = request.META.get("HTTP_X_FORWARDED_FOR")
        if not num_proxies or not xff:
            return remote_addr
        addrs = xff.split(",")
        return addrs[-min(num_proxies, len(addrs))].strip()


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
