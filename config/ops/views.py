"""/metrics for Prometheus: loopback and METRICS_ALLOWED_IPS only."""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from .metrics import exposition
from .net import client_ip


@cache
def _allowed_networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def metrics_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    return any(ip in network for network in _allowed_networks(tuple(settings.METRICS_ALLOWED_IPS)))


@never_cache
def metrics(request):
    # The address as the rate limits see it: behind a proxy (NUM_PROXIES) the client's, not the proxy's
    # loopback, so the proxy does not open /metrics to everyone.
    if not metrics_allowed(client_ip(request)):
        return HttpResponseForbidden("Metrics are served to loopback and METRICS_ALLOWED_IPS only.\n",
                                     content_type="text/plain")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
