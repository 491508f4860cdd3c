"""The client's address, as the rate limits, the login lockout and the metrics allowlist see it."""

from __future__ import annotations

from rest_framework.settings import api_settings


def client_ip(request) -> str:
    """REMOTE_ADDR, or the address NUM_PROXIES proxies back in X-Forwarded-For.

    X-Forwarded-For is trusted only when NUM_PROXIES says how many proxies sit in front; otherwise any
    client could pick a fresh address per request (and reach what only loopback may).
    """
    remote_addr = request.META.get("REMOTE_ADDR", "")
    num_proxies = api_settings.NUM_PROXIES
    xff = request.META.get("HTTP_X_FORWARDED_FOR")
    if not num_proxies or not xff:
        return remote_addr
    addrs = xff.split(",")
    return addrs[-min(num_proxies, len(addrs))].strip()


def client_ip_key(group, request) -> str:
    """django-ratelimit's key function form of client_ip."""
    return client_ip(request)
