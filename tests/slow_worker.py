"""A real Celery worker whose refreshes are slowed down, so a test can kill it mid-task.

Each refresh touches a marker file when it starts, then sleeps before doing the real work.
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from config.celery import app
from reputation import services

MARKER = Path(os.environ["SLOW_WORKER_MARKER"])
DELAY = float(os.environ.get("SLOW_WORKER_DELAY", "5"))
_real_refresh = services.author_refresh


def slow_refresh(**kwargs):
    with MARKER.open("a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(DELAY)
    return _real_refresh(**kwargs)


services.author_refresh = slow_refresh

if __name__ == "__main__":
    app.worker_main(sys.argv[1:])
