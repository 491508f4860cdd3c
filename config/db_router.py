"""Reads from streaming replicas, writes to the primary (DATABASE_REPLICA_URL; issue 12.5).

Nothing reads from a replica unless it was asked to:
- a web request, when `config.replica_middleware` routes it there (a safe method, no recent write by
  this client, not the client's own pages; see that module);
- the full refit's vote load (`reputation.data.load_votes`), once the replica has replayed everything
  the primary had committed when the load began (`refit_alias`).
Everything else (Celery tasks, the per-author refresh after a vote, commands, the shell) reads the
primary: a worker must see the vote that queued it. Writes and migrations always go to the primary.
Without DATABASE_REPLICA_URL `settings.DATABASE_REPLICAS` is empty and the router is a no-op.
"""

from __future__ import annotations

import logging
import random
import time
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

log = logging.getLogger(__name__)

# "Who you are" is always read from the primary: a session made by the log-in just before, a token made
# on /connect/ and used at once by the extension, a log-out or a revoked token must not lag.
PRIMARY_ONLY_APPS = {"sessions", "knox", "rest_framework_api_key", "axes"}
PRIMARY_ONLY_MODELS = {"auth.user", "api.devicetoken"}

# alias -> monotonic time before which it is not tried again (it refused a connection).
_down_until: dict[str, float] = {}


@dataclass
class Routing:
    """One request's reads: `alias` until something writes, then the primary for the rest of it."""

    alias: str = DEFAULT_DB_ALIAS
    wrote: bool = False


_routing: ContextVar[Routing | None] = ContextVar("db_routing", default=None)


def replicas() -> list[str]:
    """The replica aliases that are really another server (a test mirror of the primary is not)."""
    primary = connections[DEFAULT_DB_ALIAS].settings_dict
    return [
        alias for alias in getattr(settings, "DATABASE_REPLICAS", ())
        if _where(connections[alias].settings_dict) != _where(primary)
    ]


def _where(db: dict) -> tuple:
    return db.get("ENGINE"), db.get("HOST"), str(db.get("PORT") or ""), db.get("NAME")


def healthy_replica() -> str | None:
    """One replica that accepts a connection, picked at random (spreads the load); None if none does."""
    candidates = [a for a in replicas() if _down_until.get(a, 0) <= time.monotonic()]
    random.shuffle(candidates)
    for alias in candidates:
        conn = connections[alias]
        try:
            conn.close_if_health_check_failed()
            conn.ensure_connection()
            return alias
        except DatabaseError as exc:
            # A dead replica must not take the site down: its share of reads goes to the primary.
            _down_until[alias] = time.monotonic() + settings.REPLICA_RETRY_SECONDS
            log.warning("replica %s unreachable, reading from the primary for %ss: %s",
                        alias, settings.REPLICA_RETRY_SECONDS, exc)
    return None


def refit_alias() -> str:
    """Where the full refit reads its votes: a replica that has caught up with the primary, else the primary.

    The refit refreshes again the authors voted on after it started (`recompute_all`); that is only
    right if what it read includes every vote committed before. So the replica must first have replayed
    the primary's current WAL position, within REPLICA_REFIT_MAX_WAIT_SECONDS.
    """
    primary = connections[DEFAULT_DB_ALIAS]
    if primary.in_atomic_block or not replicas():  # a caller's uncommitted writes are on the primary only
        return DEFAULT_DB_ALIAS
    alias = healthy_replica()
    if alias is None:
        return DEFAULT_DB_ALIAS
    with primary.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()::text")
        target = cur.fetchone()[0]
    deadline = time.monotonic() + settings.REPLICA_REFIT_MAX_WAIT_SECONDS
    with connections[alias].cursor() as cur:
        while True:
            cur.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
            if cur.fetchone()[0]:
                return alias
            if time.monotonic() >= deadline:
                log.warning("replica %s has not replayed %s within %ss: the refit reads the primary",
                            alias, target, settings.REPLICA_REFIT_MAX_WAIT_SECONDS)
                return DEFAULT_DB_ALIAS
            time.sleep(0.05)


def begin_request(alias: str) -> object:
    """Route this request's reads to `alias` (the middleware's choice); returns the token for `end_request`."""
    return _routing.set(Routing(alias=alias))


def read_primary() -> None:
    """The rest of this request reads the primary."""
    routing = _routing.get()
    if routing is not None:
        routing.alias = DEFAULT_DB_ALIAS


# Statements that change nothing. Anything else sent to the primary during a request counts as a write.
_READS = ("SELECT", "SHOW", "SET ", "SAVEPOINT", "RELEASE", "ROLLBACK", "EXPLAIN")


def watch_writes(execute, sql, params, many, context):
    """An execute wrapper on the primary's connection for the length of a request (the middleware's).

    Read your own writes: after a write the rest of the request reads the primary, and the middleware
    pins the client to it for REPLICA_PIN_SECONDS.
    """
    routing = _routing.get()
    if routing is not None and not routing.wrote and not str(sql).lstrip().upper().startswith(_READS):
        routing.wrote = True
        routing.alias = DEFAULT_DB_ALIAS
    return execute(sql, params, many, context)


def end_request(token) -> Routing:
    routing = _routing.get()
    _routing.reset(token)
    return routing


class PrimaryReplicaRouter:
    """Django's router: see the module docstring."""

    def db_for_read(self, model, **hints):
        routing = _routing.get()
        if routing is None or routing.alias == DEFAULT_DB_ALIAS:
            return DEFAULT_DB_ALIAS
        meta = model._meta
        if meta.app_label in PRIMARY_ONLY_APPS or meta.label_lower in PRIMARY_ONLY_MODELS:
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:  # reads inside a transaction see its writes
            return DEFAULT_DB_ALIAS
        return routing.alias

    def db_for_write(self, model, **hints):
        # Also asked when a related object is merely assigned, so a write is noticed by `watch_writes`.
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # every alias holds the same data

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS  # replicas follow the primary's schema by replication
