"""Abuse controls on accounts: sign-up limits here; failed logins are django-axes' (settings.AXES_*)."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django_ratelimit.core import get_usage

from config.ops.metrics import THROTTLED
from config.ops.net import client_ip


def signup_wait(request) -> int:
    """Count one sign-up attempt; the seconds to wait if this address or username is over its limit, else 0.

    Both limits count every attempt, successful or not, so neither a stream of new accounts from one
    address nor probing one username (does it exist?) goes faster than the rates in settings.
    """
    username = request.POST.get("username", "").strip().lower()[:150]
    usages = [
        get_usage(request, group="signup:address", key=lambda group, r: client_ip(r),
                  rate=settings.SIGNUP_RATE_PER_ADDRESS, method="POST", increment=True),
        get_usage(request, group="signup:username", key=lambda group, r: username,
                  rate=settings.SIGNUP_RATE_PER_USERNAME, method="POST", increment=True) if username else None,
    ]
    waits = [max(1, usage["time_left"]) for usage in usages if usage and usage["should_limit"]]
    if not waits:
        return 0
    THROTTLED.labels("signup").inc()
    return max(waits)


class LoginLockoutBackend(AxesStandaloneBackend):
    """axes' lockout check, first in AUTHENTICATION_BACKENDS, for logins that come with a request.

    authenticate() without one (a management command, a shell) is no login from any address: axes would
    raise; here it passes to the next backend, uncounted.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
