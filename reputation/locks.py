"""One full refit at a time, across every process and machine.

With Redis (the production cache): redis-py's own lock. It stores a random token and releases
with a compare-and-delete script, so a refit that outlived the lock's timeout cannot drop the
lock another process took since. Without Redis, on PostgreSQL: a session advisory lock, held by
the refit's own connection (PostgreSQL drops it if the process dies). On SQLite (development,
one machine): an exclusive lock on a file beside the database, which the kernel drops with the
process.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)


def _redis():
    """The raw client behind django-redis, or None with another cache backend."""
    from django.core.cache import caches
    from django_redis.cache import RedisCache

    backend = caches["default"]
    return backend.client.get_client(write=True) if isinstance(backend, RedisCache) else None


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock, derived from the lock's name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def exclusive(name: str, *, timeout: float) -> Iterator[bool]:
    """Try to take the lock `name` without waiting; yields whether this caller holds it.

    `timeout` (seconds) bounds how long a Redis lock outlives a process that died holding it: set it
    at or above the holder's hard time limit, so the lock cannot expire while its holder still runs.
    """
    client = _redis()
    if client is not None:
        with _redis_lock(client, name, timeout) as held:
            yield held
    elif connection.vendor == "postgresql":
        with _advisory_lock(name) as held:
            yield held
    else:
        with _file_lock(name) as held:
            yield held


@contextlib.contextmanager
def _redis_lock(client, name: str, timeout: float) -> Iterator[bool]:
    import redis
    from redis.exceptions import LockError

    lock = client.lock(f"lock:{name}", timeout=timeout, blocking=False)
    try:
        held = lock.acquire()
    except redis.RedisError:
        log.warning("lock %s: Redis unreachable, not running", name, exc_info=True)
        held = False
    try:
        yield held
    finally:
        if held:
            try:
                lock.release()  # deletes the key only if it still holds this lock's token
            except LockError:
                log.warning("lock %s expired while held (another process may hold it now); left alone", name)
            except redis.RedisError:
                log.warning("lock %s: Redis unreachable at release; it expires by itself", name, exc_info=True)


@contextlib.contextmanager
def _advisory_lock(name: str) -> Iterator[bool]:
    key = advisory_key(name)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [key])
        held = bool(cur.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", [key])


@contextlib.contextmanager
def _file_lock(name: str) -> Iterator[bool]:
    import fcntl

    database = Path(str(connection.settings_dict["NAME"]))
    folder = database.parent if database.parent.is_dir() else Path(settings.VAR_DIR)
    path = folder / f".{database.name}.{name}.lock"
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
