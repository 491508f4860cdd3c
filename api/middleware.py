"""Request ids: accept the caller's X-Request-ID (or make one), echo it, and put it on every log record."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from django.http import HttpResponse, JsonResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = given if _VALID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


class DatabaseUnavailableMiddleware:
    """A view that loses the database (PostgreSQL restarting) answers 503 with Retry-After, not 500.

    DRF views answer through api.problems.exception_handler; this covers the site's pages and plain views.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from .problems import DATABASE_RETRY_AFTER, PROBLEM_JSON, is_database_unavailable, problem_body

        if not is_database_unavailable(exception):
            return None
        logging.getLogger("api").warning("database unavailable on %s: %s", request.path, exception)
        response: HttpResponse
        if request.path.startswith("/api/"):
            body = problem_body(
                status_code=503, detail="The database is unavailable for a moment; retry shortly.",
                instance=request.path, retry_after=DATABASE_RETRY_AFTER,
            )
            response = JsonResponse(body, status=503, content_type=PROBLEM_JSON)
        else:  # no template: rendering one may touch the session, which lives in the database
            response = HttpResponse(UNAVAILABLE_PAGE, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response


UNAVAILABLE_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Merit is briefly unavailable</title>"
    "<h1>Merit is briefly unavailable</h1><p>The database is restarting. Try again in a few seconds.</p></html>"
)


class RequestIdFilter(logging.Filter):
    """Gives every record passing a handler a `request_id`.

    Django logs each 4xx/5xx answer (logger django.request) after the middleware has returned, so the
    context variable is already reset; those records carry the request itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from_request = getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = from_request or getattr(record, "request_id", None) or request_id_var.get()
        return True


def install_log_record_factory() -> None:
    """Every LogRecord gets `request_id` (use %(request_id)s in a formatter), "-" outside requests."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_merit_request_id", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    factory._merit_request_id = True  # type: ignore[attr-defined]  # a marker: installed once per process
    logging.setLogRecordFactory(factory)
