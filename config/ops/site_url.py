"""The site's own absolute address, for links that leave the page (API `url` fields, problem `type`s).

SITE_URL wins when it is set (a proxy that rewrites the Host, a canonical name). Otherwise the address is
the one the current request came in on, so `make run PORT=8731` links to :8731, not to a default. Where
there is no request (a Celery task, gunicorn's own error answers) and no SITE_URL, the development
default is all there is.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.conf import settings
from django.core.exceptions import DisallowedHost

FALLBACK = "http://127.0.0.1:8000"
_current_request: ContextVar = ContextVar("merit_current_request", default=None)


def site_url(request=None) -> str:
    """'scheme://host[:port]' without a trailing slash."""
    if settings.SITE_URL:
        return settings.SITE_URL.rstrip("/")
    request = request or _current_request.get()
    if request is not None:
        try:  # get_host() checks ALLOWED_HOSTS: a forged Host never becomes a link
            return request.build_absolute_uri("/").rstrip("/")
        except DisallowedHost:
            pass
    return FALLBACK


class SiteURLMiddleware:
    """Makes the request available to site_url() in code that is not handed it (cards, problem bodies).

    The address is worked out only when something asks for it; nothing is computed per request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)
