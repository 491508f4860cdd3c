"""django-csp's policy for pages; a fixed, stricter one for every response that is not a page."""

from __future__ import annotations

from csp.constants import HEADER
from csp.middleware import CSPMiddleware as PageCSPMiddleware

# JSON, the OpenAPI schema, /metrics: nothing in them is rendered, so nothing may load from them and no
# page may frame them (GitHub's API answers the same). A constant, where django-csp would build the
# site's policy again for each API response.
NOT_A_PAGE = "default-src 'none'; frame-ancestors 'none'"


class CSPMiddleware(PageCSPMiddleware):
    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("text/html"):
            return super().process_response(request, response)
        response.setdefault(HEADER, NOT_A_PAGE)
        return response
