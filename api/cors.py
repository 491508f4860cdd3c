"""CORS for the public API's reads only (django-cors-headers, limited by method).

Any origin may read (no credentials: `Access-Control-Allow-Origin: *`, never cookies), so third-party
web apps can call /api/v1/ from a browser. Writes get no CORS headers at all: a browser page elsewhere
cannot read the answer to a vote, and its preflight for one is refused. The extension needs none of
this (its service worker is not bound by CORS).
"""

from __future__ import annotations

import re

from corsheaders.middleware import CorsMiddleware

READ_METHODS = frozenset({"GET", "HEAD"})
# Reads sent as POST because the question is too big for a URL.
READ_BY_POST = re.compile(r"^/api/v1/authors/lookup/?$")


class ReadOnlyCorsMiddleware(CorsMiddleware):
    def is_enabled(self, request) -> bool:
        if not super().is_enabled(request):  # CORS_URLS_REGEX: /api/v1/ only
            return False
        method = request.method
        if method == "OPTIONS":
            method = request.headers.get("access-control-request-method", "").upper()
        return method in READ_METHODS or (method == "POST" and bool(READ_BY_POST.match(request.path_info)))
