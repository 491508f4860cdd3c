"""RFC 9457 problem details for every API error.

DRF exceptions, Django's Http404/PermissionDenied, vote-service refusals and
unexpected crashes all leave the API as `application/problem+json` with the
same members: type, title, status, detail, instance (+ errors, retry_after).
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from config.ops.site_url import site_url
from votes.services import AuthorConflict, InvalidInput, SelfVote, VoteError

from .parsers import PayloadTooLarge

log = logging.getLogger("api")
PROBLEM_JSON = "application/problem+json"

# slug -> (status, title, description). The slug is the last segment of `type`.
PROBLEM_TYPES: dict[str, tuple[int, str, str]] = {
    "invalid-request": (400, "Invalid request", "A parameter or the body did not validate; see `errors`."),
    "unauthenticated": (401, "Authentication required", "Send `Authorization: Token <token>` from /connect/."),
    "forbidden": (403, "Forbidden", "The credentials are valid but do not allow this action."),
    "api-key-cannot-vote": (403, "API keys cannot vote", "Keys identify apps, not people; votes need a user token."),
    "self-vote": (403, "You cannot vote on your own posts", "The author is linked to your account."),
    "not-found": (404, "Not found", "Nothing exists at this address."),
    "method-not-allowed": (405, "Method not allowed", "See the `Allow` header for the methods this URL accepts."),
    "not-acceptable": (406, "Not acceptable", "This API answers in JSON only."),
    "author-conflict": (409, "Post belongs to another author", "The post id is registered under another handle."),
    "payload-too-large": (413, "Request body too large", "At most DATA_UPLOAD_MAX_MEMORY_SIZE bytes (1 MB)."),
    "uri-too-long": (414, "URI too long", "The request line (method, path and query) is over the server's limit."),
    "unsupported-media-type": (415, "Unsupported media type", "Send JSON bodies with Content-Type: application/json."),
    "rate-limited": (429, "Too many requests", "Wait `retry_after` seconds; see the X-RateLimit-* headers."),
    "request-header-fields-too-large": (431, "Request header fields too large", "Too many headers, or one too long."),
    "server-error": (500, "Internal server error", "Something broke on our side; quote the X-Request-ID header."),
    "service-unavailable": (503, "Service unavailable", "The database is unavailable (e.g. restarting); retry after "
                            "`retry_after` seconds."),
}
_BY_STATUS = {
    400: "invalid-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    406: "not-acceptable", 409: "author-conflict", 413: "payload-too-large", 414: "uri-too-long",
    415: "unsupported-media-type", 429: "rate-limited", 431: "request-header-fields-too-large", 500: "server-error",
    503: "service-unavailable",
}
# Seconds a client should wait when the database is unavailable: about what a PostgreSQL restart takes.
DATABASE_RETRY_AFTER = 5


class ProblemJSONRenderer(JSONRenderer):
    media_type = PROBLEM_JSON


def problem_type(slug: str) -> str:
    return f"{site_url()}/api/v1/problems/{slug}"


def problem_body(*, status_code: int, detail: str, instance: str, slug: str | None = None, **extra) -> dict:
    slug = slug or _BY_STATUS.get(status_code, "server-error" if status_code >= 500 else "invalid-request")
    body = {
        "type": problem_type(slug),
        "title": PROBLEM_TYPES[slug][1],
        "status": status_code,
        "detail": detail,
        "instance": instance,
    }
    body.update(extra)
    return body


class VoteRefused(exceptions.APIException):
    """A VoteError carried through DRF with the right status and problem slug."""

    def __init__(self, error: VoteError):
        self.slug = {InvalidInput: "invalid-request", SelfVote: "self-vote", AuthorConflict: "author-conflict"}.get(
            type(error), "invalid-request"
        )
        self.status_code = PROBLEM_TYPES[self.slug][0]
        super().__init__(detail=str(error), code=error.code)


class DatabaseUnavailable(exceptions.APIException):
    status_code = 503
    slug = "service-unavailable"
    default_detail = "The database is unavailable for a moment (e.g. restarting); retry shortly."
    wait = DATABASE_RETRY_AFTER


def is_database_unavailable(exc: BaseException) -> bool:
    """Lost or refused connections (and the like: a deadlock, a cancelled statement) are worth a retry."""
    return isinstance(exc, (OperationalError, InterfaceError))


class ApiKeyCannotVote(exceptions.PermissionDenied):
    slug = "api-key-cannot-vote"
    default_detail = "API keys identify apps and can only read; voting needs a user token (Authorization: Token ...)."


def _flatten(detail, path: str = "") -> list[dict]:
    """DRF's nested ValidationError detail as RFC 9457 `errors` with JSON pointers."""
    if isinstance(detail, dict):
        return [
            e
            for key, value in detail.items()
            for e in _flatten(value, path if key == api_settings.NON_FIELD_ERRORS_KEY else f"{path}/{key}")
        ]
    if isinstance(detail, list):
        if all(not isinstance(v, (dict, list)) for v in detail):
            return [{"pointer": f"#{path}", "detail": str(v)} for v in detail]
        return [e for i, value in enumerate(detail) for e in _flatten(value, f"{path}/{i}")]
    return [{"pointer": f"#{path}", "detail": str(detail)}]


def exception_handler(exc, context):
    """DRF EXCEPTION_HANDLER: every error becomes a problem+json response."""
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, VoteError):
        exc = VoteRefused(exc)
    elif isinstance(exc, RequestDataTooBig):  # Django's own check, when DRF reads request.body
        exc = PayloadTooLarge()
    elif is_database_unavailable(exc):
        log.warning("database unavailable on %s: %s", instance, exc)
        exc = DatabaseUnavailable()

    headers = {}
    if not isinstance(exc, exceptions.APIException):
        log.exception("unhandled API error on %s", instance)
        set_rollback()
        body = problem_body(status_code=500, detail="The server failed to answer this request.", instance=instance)
        return Response(body, status=500, content_type=PROBLEM_JSON)

    extra: dict[str, object] = {}
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        extra["errors"] = errors
        detail = "; ".join(f"{e['pointer'].lstrip('#/') or 'request'}: {e['detail']}" for e in errors)
    else:
        detail = str(exc.detail)
    # Throttled sets .wait in __init__; its stubs do not declare it.
    wait: float | None = getattr(exc, "wait", None) if isinstance(exc, (exceptions.Throttled, DatabaseUnavailable)) else None
    if wait is not None:
        retry_after = max(1, int(wait + 0.999))
        headers["Retry-After"] = str(retry_after)
        extra["retry_after"] = retry_after
        detail = getattr(exc, "quota_detail", None) or detail
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    set_rollback()
    body = problem_body(
        status_code=exc.status_code, detail=detail, instance=instance, slug=getattr(exc, "slug", None), **extra
    )
    return Response(body, status=exc.status_code, headers=headers, content_type=PROBLEM_JSON)


def server_problem(status_code: int, reason: str, detail: str) -> dict:
    """The body of an error the HTTP server answers itself (config/gunicorn.py), before any routing."""
    slug = _BY_STATUS.get(status_code)
    if slug is None or PROBLEM_TYPES[slug][0] != status_code:
        # RFC 9457's "about:blank": the problem is just what the status says.
        return {"type": "about:blank", "title": reason, "status": status_code, "detail": detail or reason,
                "instance": ""}
    return problem_body(status_code=status_code, detail=detail or reason, instance="", slug=slug)


def problem_response(request, status_code: int, detail: str) -> HttpResponse:
    """For plain Django views under /api/v1/ (unknown paths)."""
    body = problem_body(status_code=status_code, detail=detail, instance=request.path)
    return JsonResponse(body, status=status_code, content_type=PROBLEM_JSON)


def not_found(request, *args, **kwargs) -> HttpResponse:
    return problem_response(request, status.HTTP_404_NOT_FOUND, "There is no API endpoint at this path.")


def problem_type_detail(request, slug: str) -> HttpResponse:
    """Makes every `type` URI resolvable: a short description of the problem."""
    if slug not in PROBLEM_TYPES:
        return not_found(request)
    code, title, description = PROBLEM_TYPES[slug]
    return JsonResponse({"type": problem_type(slug), "status": code, "title": title, "description": description})
