"""The shape every API view shares: rate-limit headers, strong ETags, Cache-Control."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from rest_framework import exceptions, renderers
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.views import APIView

from .throttles import describe

PUBLIC_MAX_AGE = 60


def etag_for(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:40] + '"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 13.1.2).
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


class RawJSONResponse(HttpResponse):
    """Text that is already JSON (assembled from cached, pre-encoded cards), sent without DRF's
    Response/renderer round (a fifth of a cached single lookup's time)."""

    def __init__(self, text: str):
        super().__init__(text.encode(), content_type=renderers.JSONRenderer.media_type)


class JSONFirstNegotiation(DefaultContentNegotiation):
    """Skip parsing the common Accept headers (none, */*, application/json); anything else negotiates as usual."""

    FAST = frozenset({"", "*/*", "application/json"})

    def select_renderer(self, request, renderers, format_suffix=None):
        if request.META.get("HTTP_ACCEPT", "").strip() in self.FAST:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


if TYPE_CHECKING:  # the mixins below extend DRF views: typed as such, plain classes at run time
    ViewMixinBase = APIView
else:
    ViewMixinBase = object


class QuotaThrottled(exceptions.Throttled):
    """A 429 that says which quota ran out (api.problems puts it in the detail)."""

    quota_detail: str | None = None


class NotModified(HttpResponseNotModified):
    # True when the client held this very answer: only then is the 304 free.
    revalidated = False


class ApiViewMixin(ViewMixinBase):
    content_negotiation_class = JSONFirstNegotiation
    renderer_classes = (renderers.JSONRenderer,)
    # Public data: shared caches may keep it unless the answer is personal.
    personal = False

    def initialize_request(self, request, *args, **kwargs):
        drf_request = super().initialize_request(request, *args, **kwargs)
        if "HTTP_AUTHORIZATION" not in request.META:
            # No credentials: anonymous without asking each authenticator (the hot path of public reads).
            drf_request._authenticator = None  # type: ignore[attr-defined]  # private to DRF, not in its stubs
            drf_request.user, drf_request.auth = AnonymousUser(), None
        return drf_request

    def throttled(self, request, wait):
        windows = [w for w in getattr(request, "rate_windows", []) if w.count > w.limit]
        exc = QuotaThrottled(wait)
        if windows:
            exc.quota_detail = describe(windows[0])
        raise exc

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ("Accept", "Authorization"))
        if request.method in ("GET", "HEAD") and response.status_code == 200:
            response = self._conditional(request, response)
        windows = getattr(request, "rate_windows", [])
        if response.status_code == 304 and getattr(response, "revalidated", False):  # free (as on GitHub)
            for window in windows:
                window.refund()
        if windows:
            tightest = min(windows, key=lambda w: (w.remaining, -w.reset))
            response["X-RateLimit-Limit"] = str(tightest.limit)
            response["X-RateLimit-Remaining"] = str(tightest.remaining)
            response["X-RateLimit-Reset"] = str(tightest.reset)
        return response

    def _conditional(self, request, response):
        if hasattr(response, "render"):
            response.render()
        etag = etag_for(response.content)
        personal = self.personal and request.user.is_authenticated
        if request.auth is None and not personal:
            cache_control = f"public, max-age={PUBLIC_MAX_AGE}"
        elif personal:
            cache_control = "private, no-cache"
        else:
            cache_control = f"private, max-age={PUBLIC_MAX_AGE}"
        if_none_match = request.META.get("HTTP_IF_NONE_MATCH", "")
        if etag_matches(if_none_match, etag):
            not_modified = NotModified()
            not_modified["Vary"] = response["Vary"]
            # Free only for a client that holds this very answer: "*" would make a free existence check.
            not_modified.revalidated = if_none_match.strip() != "*"
            response = not_modified
        response["ETag"] = etag
        response["Cache-Control"] = cache_control
        return response


class BaseApiView(ApiViewMixin, APIView):
    pass


class BaseListView(ApiViewMixin, GenericAPIView):
    """A cursor-paginated list whose rows are rendered by `card(row)` (plain dicts, no serializer pass)."""

    def card(self, row) -> dict:
        raise NotImplementedError

    def list_response(self, queryset):
        page = self.paginate_queryset(queryset)
        assert page is not None, "a list view has a pagination_class"
        return self.get_paginated_response([self.card(row) for row in page])
