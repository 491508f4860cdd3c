"""Optional error reporting: with SENTRY_DSN set, errors in requests, tasks and ERROR log lines go to Sentry.

The Django and Celery integrations enable themselves (sentry-sdk finds both installed). Events carry the
request id as a tag, so an event, its log lines and the client's X-Request-ID meet. No personal data is
sent (sentry-sdk's default: no user names, cookies or client addresses) and no request bodies.
"""

from __future__ import annotations


def init(dsn: str, *, environment: str, release: str | None = None, traces_sample_rate: float = 0.0,
         transport=None) -> None:
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        max_request_body_size="never",  # form posts carry passwords (password1, password2, ...)
        before_send=tag_request_id,
        transport=transport,
    )


def tag_request_id(event: dict, hint: dict) -> dict:
    from api.middleware import request_id_var

    rid = request_id_var.get()
    if rid != "-":
        event.setdefault("tags", {})["request_id"] = rid
    return event
