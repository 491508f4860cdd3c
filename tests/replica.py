"""A real streaming replica of the test database's PostgreSQL server, for tests/test_replicas.py.

`StreamingReplica.start()` makes a second cluster with `pg_basebackup -R` from the primary the tests use
(DATABASE_URL, trust auth), starts it with `pg_ctl` on a free port with its data under a temporary
directory, and waits until it has replayed everything the primary had; `stop()` removes it. Replay can
be paused (`pause()`) to make the replica lag on purpose. Anything missing fails the run with what to
do; it never skips.

pg_basebackup copies the whole cluster, every database on it: about 1 s for a near-empty server, about
18 s with a 3 GB benchmark world beside the test database (measured). Keep benchmark worlds on another
cluster, or drop them, where the suite's time matters.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg2
import pytest

# Appended to the primary's pg_hba.conf when it has no rule for replication connections from 127.0.0.1
# ("all" does not cover them), then the primary reloads its configuration. Added once: later runs
# find the rule. Debian's default cluster on this machine and CI (.ci/run starts it) lack one.
HBA_LINE = "host replication all 127.0.0.1/32 trust  # added by Merit's tests/replica.py (streaming replica tests)"
# A hot standby needs at least the primary's values of these.
MATCH_PRIMARY = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
                 "max_locks_per_transaction")


class StreamingReplica:
    def __init__(self, primary: dict):
        """`primary`: the test database's Django settings (HOST, PORT, USER, NAME)."""
        self.primary = primary
        self.dbname = primary["NAME"]
        self.port = _free_port()
        self.dir: Path | None = None

    # --- connections ---

    def primary_conn(self, dbname: str | None = None):
        p = self.primary
        conn = psycopg2.connect(host=p["HOST"] or "127.0.0.1", port=p["PORT"] or 5432, user=p["USER"] or "postgres",
                                password=p.get("PASSWORD") or None, dbname=dbname or self.dbname)
        conn.autocommit = True
        return conn

    def conn(self, dbname: str = "postgres"):
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.primary["USER"] or "postgres",
                                dbname=dbname, connect_timeout=5)
        conn.autocommit = True
        return conn

    def _one(self, conn, sql: str, params=None):
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]

    # --- life cycle ---

    def start(self) -> None:
        with closing(self.primary_conn()) as primary:
            version = self._one(primary, "SHOW server_version_num")
            settings = {name: self._one(primary, f"SHOW {name}") for name in MATCH_PRIMARY}
            if self._one(primary, "SHOW wal_level") == "minimal":
                pytest.fail("The primary has wal_level = minimal: set wal_level = replica (PostgreSQL's default) and restart it.")
            self._allow_replication(primary)
        bindir = Path(f"/usr/lib/postgresql/{int(version) // 10000}/bin")
        for tool in ("pg_basebackup", "pg_ctl"):
            if not (bindir / tool).exists():
                major = int(version) // 10000
                pytest.fail(f"{bindir / tool} is missing: the replica tests need the tools of the primary's version "
                            f"(Debian: apt-get install postgresql-client-{major} postgresql-{major}).")
        self.dir = Path(tempfile.mkdtemp(prefix="merit-replica-"))
        data = self.dir / "data"
        _own_by_postgres(self.dir)
        p = self.primary
        self._run(bindir / "pg_basebackup", "-h", p["HOST"] or "127.0.0.1", "-p", str(p["PORT"] or 5432),
                  "-U", p["USER"] or "postgres", "-D", str(data), "-R", "-X", "stream", "--checkpoint=fast",
                  "--no-sync", "--no-manifest")
        # Debian keeps the primary's postgresql.conf and pg_hba.conf in /etc: the copy gets its own.
        conf = [f"{k} = {v}" for k, v in settings.items()] + [
            "hot_standby = on", "shared_buffers = 32MB", "fsync = off", "ssl = off", "logging_collector = off",
            "wal_receiver_status_interval = 1s", f"hba_file = '{data}/pg_hba.conf'", f"ident_file = '{data}/pg_ident.conf'",
        ]
        self._write(data / "postgresql.conf", "\n".join(conf) + "\n")
        self._write(data / "pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n")
        self._write(data / "pg_ident.conf", "")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}"
        self._run(bindir / "pg_ctl", "-D", str(data), "-l", str(self.dir / "replica.log"), "-o", options,
                  "-w", "-t", "60", "start")
        self._pg_ctl = bindir / "pg_ctl"
        with closing(self.conn()) as replica:
            assert self._one(replica, "SELECT pg_is_in_recovery()"), "the copy is not a standby"
        self.wait_caught_up()

    def stop(self) -> None:
        if self.dir is None:
            return
        try:
            self._run(self._pg_ctl, "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop", check=False)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # --- replay ---

    def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Until the replica has replayed all the primary has written (and has the test database)."""
        with closing(self.primary_conn()) as primary, closing(self.conn()) as replica:
            target = self._one(primary, "SELECT pg_current_wal_lsn()::text")
            deadline = time.monotonic() + timeout
            while not self._one(replica, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]):
                if time.monotonic() > deadline:
                    pytest.fail(f"the replica did not replay {target} within {timeout}s; see {self.dir}/replica.log")
                time.sleep(0.05)

    def pause(self) -> None:
        """Stop applying WAL (it still arrives): the replica lags from now until `resume()`."""
        with closing(self.conn()) as replica:
            self._one(replica, "SELECT pg_wal_replay_pause()::text")
            deadline = time.monotonic() + 10
            while self._one(replica, "SELECT pg_get_wal_replay_pause_state()") != "paused":
                assert time.monotonic() < deadline, "replay did not pause"
                time.sleep(0.02)

    def resume(self) -> None:
        with closing(self.conn()) as replica:
            self._one(replica, "SELECT pg_wal_replay_resume()::text")
        self.wait_caught_up()

    # --- helpers ---

    def _allow_replication(self, primary) -> None:
        rule = ("SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database) AND error IS NULL "
                "AND type IN ('host', 'hostnossl') AND auth_method = 'trust' "
                "AND (address IN ('all', 'samehost', '127.0.0.1') OR address LIKE '127.%')")
        if self._one(primary, rule):
            return
        hba = Path(self._one(primary, "SHOW hba_file"))
        try:
            if HBA_LINE not in hba.read_text():
                with hba.open("a") as f:
                    f.write("\n" + HBA_LINE + "\n")
        except OSError as exc:
            pytest.fail(f"The primary's {hba} allows no replication connection from 127.0.0.1 and cannot be "
                        f"changed here ({exc}): add `{HBA_LINE.split('  #')[0]}` and reload PostgreSQL.")
        self._one(primary, "SELECT pg_reload_conf()")
        time.sleep(0.2)  # the postmaster reloads asynchronously

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        _own_by_postgres(path)

    def _run(self, *cmd, check: bool = True) -> None:
        # PostgreSQL will not run as root: as root (CI, this machine) the tools run as the postgres user.
        argv = [str(c) for c in cmd]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=600, cwd="/")
        if check and done.returncode != 0:
            log = (self.dir / "replica.log") if self.dir else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            pytest.fail(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{tail}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_by_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


@contextmanager
def database_alias(alias: str, **overrides):
    """A database alias like the test database's but with `overrides` (HOST, PORT...), for this block.

    Marked as a test mirror of the primary, so the test framework neither creates nor flushes it.
    """
    from django.db import connections

    primary = connections["default"].settings_dict
    connections.settings[alias] = {**primary, **overrides, "TEST": {**primary["TEST"], "MIRROR": "default"}}
    try:
        yield connections[alias]
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
