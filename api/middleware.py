"""Request ids: accept the caller's X-Request-ID (or make one), echo it, and put it on every log record."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

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

    factory._merit_request_id = True
    logging.setLogRecordFactory(factory)
