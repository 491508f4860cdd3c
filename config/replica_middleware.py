"""Which database a web request reads: a replica, unless the client would miss its own writes there.

A request reads the primary when
- its method is not safe (POST, PUT, PATCH, DELETE: the vote path, log-in, sign-up, /connect/);
- it is one of a client's own pages: the site's `OWN_PAGES` (My votes, /connect/, Rate next, claims,
  the admin, the API's webhooks) and, for a caller with credentials, the API views marked `personal`
  (a post with the caller's vote, My votes, Rate next);
- the client wrote in the last REPLICA_PIN_SECONDS: a browser by the `merit_primary` cookie set on the
  response that wrote, an API client (the extension sends no cookies) by its Authorization header,
  remembered in the cache;
- no replica accepts a connection.
Anything else (the feed, author and post pages, the API's public reads) reads one replica, picked per
request. A write during a routed request moves the rest of that request to the primary
(`db_router.watch_writes`). Without DATABASE_REPLICA_URL this does nothing.
"""

from __future__ import annotations

import hashlib
import re

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections

from . import db_router

PIN_COOKIE = "merit_primary"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OWN_PAGES = re.compile(
    r"^/(me/|connect/|rate/|rate-next/|admin/|a/[^/]+/[^/]+/claim/|api/v1/webhooks(/|$))"
)


def _pin_key(authorization: str) -> str:
    return "replica-pin:" + hashlib.sha256(authorization.encode()).hexdigest()[:32]


def read_alias(request) -> str:
    """The alias this request's reads go to (see the module docstring)."""
    if request.method not in SAFE_METHODS or PIN_COOKIE in request.COOKIES or OWN_PAGES.match(request.path):
        return DEFAULT_DB_ALIAS
    authorization = request.headers.get("Authorization")
    if authorization and cache.get(_pin_key(authorization)):
        return DEFAULT_DB_ALIAS
    return db_router.healthy_replica() or DEFAULT_DB_ALIAS


class ReplicaReadMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not db_router.replicas():
            return self.get_response(request)
        token = db_router.begin_request(read_alias(request))
        try:
            with connections[DEFAULT_DB_ALIAS].execute_wrapper(db_router.watch_writes):
                response = self.get_response(request)
        finally:
            routing = db_router.end_request(token)
        if routing.wrote:
            self._pin(request, response)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Known only once the URL is resolved: an API answer with the caller's own data reads the primary.
        personal = getattr(getattr(view_func, "cls", None), "personal", False)
        if personal and (request.headers.get("Authorization") or settings.SESSION_COOKIE_NAME in request.COOKIES):
            db_router.read_primary()

    @staticmethod
    def _pin(request, response) -> None:
        seconds = settings.REPLICA_PIN_SECONDS
        authorization = request.headers.get("Authorization")
        if authorization:
            cache.set(_pin_key(authorization), 1, seconds)
        else:
            response.set_cookie(PIN_COOKIE, "1", max_age=seconds, secure=settings.SESSION_COOKIE_SECURE,
                                httponly=True, samesite="Lax")
