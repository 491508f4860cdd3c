"""Celery signal receivers: the request id travels with a task, and the worker times each full refit.

A task published while a request (or a task) runs carries that request's X-Request-ID in a message
header; the worker puts it back in `api.middleware.request_id_var` for the task's duration, so every log
line the task writes (and Sentry's events) names the request that caused it.
"""

from __future__ import annotations

import time

from celery import signals

from api.middleware import request_id_var

HEADER = "request_id"
_started: dict[str, float] = {}


def carry_request_id(sender=None, headers=None, **kwargs) -> None:
    rid = request_id_var.get()
    if headers is not None and rid != "-":
        headers.setdefault(HEADER, rid)


def task_started(sender=None, task_id=None, task=None, **kwargs) -> None:
    if task is None:
        return
    # An eager call (task.apply()) has no header and keeps its caller's id.
    rid = task.request.get(HEADER) or request_id_var.get()
    task.request.merit_rid_token = request_id_var.set(rid)
    if task_id:
        _started[task_id] = time.monotonic()


def task_finished(sender=None, task_id=None, task=None, retval=None, state=None, **kwargs) -> None:
    started = _started.pop(task_id, None) if task_id else None
    if task is None:
        return
    token = getattr(task.request, "merit_rid_token", None)
    if token is not None:
        try:
            request_id_var.reset(token)
        except ValueError:  # set in another context: leave the default behind
            request_id_var.set("-")
    # recompute_all returns None when another refit held the lock: nothing was timed then.
    if task.name == "reputation.recompute_all" and state == "SUCCESS" and retval is not None and started:
        from .metrics import reading_record

        reading_record(name="refit_duration_seconds", value=time.monotonic() - started)


def use_django_logging(**kwargs) -> None:
    """The worker logs through settings.LOGGING (JSON, request ids) instead of Celery's own format."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


def connect() -> None:
    signals.before_task_publish.connect(carry_request_id, dispatch_uid="ops.carry_request_id")
    signals.task_prerun.connect(task_started, dispatch_uid="ops.task_started")
    signals.task_postrun.connect(task_finished, dispatch_uid="ops.task_finished")
