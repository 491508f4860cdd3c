"""Log records as JSON lines (LOG_FORMAT=json, the default when DEBUG is off), with request and task ids."""

from __future__ import annotations

import logging

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, request_id, message, task_id/task_name in tasks,
    exc_info on errors, plus any `extra=` fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        # Django's request logger passes the request object itself; its id is already in request_id.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "taskName"])
        super().__init__("%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s", *args, **kwargs)


class TaskFilter(logging.Filter):
    """Adds task_id and task_name to records written while a Celery task runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        from celery._state import get_current_task

        task = get_current_task()
        if task is not None and task.request.id and not hasattr(record, "task_id"):
            record.task_id = task.request.id
            record.task_name = task.name
        return True
