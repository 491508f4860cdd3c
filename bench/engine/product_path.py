"""Votes through the product's own commands, as an operator would run them.

`run_through_product(votes)` writes the votes as the interchange CSV
(platform,post_id,author,voter,value,created_at,voter_joined_at[,solicited]), then runs

    manage.py migrate
    manage.py import_votes votes.csv
    manage.py recompute_reputation
    manage.py export_reputation reputation.csv

as subprocesses of the project's .venv/bin/python against a throwaway database, and maps the
exported rows back to the bench's author ids. The database is a fresh PostgreSQL database
(`merit_bench_<pid>_<n>` on 127.0.0.1:5432, user postgres) created and dropped per run when
PostgreSQL is reachable, else a temporary SQLite file.

How the bench's ids become the product's names: every vote is on platform X, author id `a` is the
handle `m<a>`, voter id `v` the username `v<v>`, post id `p` the X post id `<p>` (a post belongs to
one author). What the CSV cannot carry is lost on the way, as it would be for a real import:
`owned_author` / `owner_voter` (linking an account to a handle is done on the site, not by import).
`solicited` is written as the optional last column only when some vote is solicited (the
importer must then accept it).

The refit runs at the wall clock's "now" (`recompute_reputation` has no other), not at a world's
simulated NOW.
"""

from __future__ import annotations

import csv
import itertools
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reputation.engine import VoteData

from .baselines import Result

PROJECT = Path(__file__).resolve().parents[2]
PYTHON = PROJECT / ".venv" / "bin" / "python"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PLATFORM = "x"
HEADER = ["platform", "post_id", "author", "voter", "value", "created_at", "voter_joined_at"]
NUMERIC = {"score": float, "low": float, "high": float, "votes": int, "voters": int}
_runs = itertools.count()


@dataclass
class ProductScores:
    """Per author id 0..n_authors-1, as `export_reputation` gave it (NaN / 0 when not exported).

    An author is absent from the export when no vote reached it; the service shows such an
    author at the prior (score 50, insufficient data): `result()` fills them so.
    """

    score: np.ndarray
    low: np.ndarray
    high: np.ndarray
    votes: np.ndarray
    voters: np.ndarray
    exported: np.ndarray  # bool
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # further exported columns (e.g. status), "" when absent
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = ""

    @property
    def status(self) -> np.ndarray | None:
        return self.extra.get("status")

    def result(self, prior: float = 50.0) -> Result:
        score = self.score.copy()
        score[~self.exported] = prior
        return Result(score, self.low, self.high)


def run_through_product(
    votes: object | None = None,
    *,
    voter=None,
    author=None,
    post=None,
    value=None,
    created=None,
    voter_joined=None,
    solicited=None,
    n_authors: int | None = None,
    database: str = "auto",
    verbose: bool = True,
    keep_dir: str | os.PathLike | None = None,
) -> ProductScores:
    """Run votes through migrate / import_votes / recompute_reputation / export_reputation.

    `votes` is a bench `World` (its `.data` is used) or a `VoteData`; or pass plain arrays:
    `voter`, `author`, `post`, `value` (+1/-1), `created` (epoch seconds), `voter_joined`
    (epoch seconds, per vote), optional `solicited` (bool per vote). `database` is "auto"
    (PostgreSQL if reachable, else SQLite), "postgresql" or "sqlite". `keep_dir`, if given,
    receives the CSVs written and read (else they go to a temporary directory).
    """
    cols = _columns(votes, voter, author, post, value, created, voter_joined, solicited)
    n = int(n_authors if n_authors is not None else (cols["author"].max(initial=-1) + 1))
    if len(cols["author"]) and cols["author"].max() >= n:
        raise ValueError(f"n_authors={n} but an author id is {cols['author'].max()}")

    steps = ["write csv", "create database", "migrate", "import_votes", "recompute_reputation", "export_reputation", "read export"]
    bar = tqdm(total=len(steps), desc="through the product", unit="step", file=sys.stderr, disable=not verbose)
    timings: dict[str, float] = {}

    def step(name: str):
        bar.set_postfix_str(name)
        return _Step(name, timings, bar, verbose)

    work = Path(tempfile.mkdtemp(prefix="merit_bench_"))
    db = None
    try:
        votes_csv, export_csv = work / "votes.csv", work / "reputation.csv"
        with step("write csv"):
            _write_csv(votes_csv, cols)
        with step("create database"):
            db = _Database(database, work)
        env = _environment(db.url)
        with step("migrate") as s:
            s.note(_manage(env, "migrate", "--noinput", "-v", "0"))
        with step("import_votes") as s:
            s.note(_manage(env, "import_votes", str(votes_csv)))
        with step("recompute_reputation") as s:
            s.note(_manage(env, "recompute_reputation"))
        with step("export_reputation") as s:
            s.note(_manage(env, "export_reputation", str(export_csv)))
        with step("read export"):
            out = _read_export(export_csv, n)
        if keep_dir is not None:
            Path(keep_dir).mkdir(parents=True, exist_ok=True)
            for f in (votes_csv, export_csv):
                shutil.copy(f, Path(keep_dir) / f.name)
    finally:
        bar.close()
        if db is not None:
            db.drop()
        shutil.rmtree(work, ignore_errors=True)
    out.timings, out.backend = timings, db.backend
    if verbose:
        total = sum(timings.values())
        print(f"through the product ({db.backend}, {len(cols['value']):,} votes): {total:.1f}s", file=sys.stderr)
    return out


class _Step:
    def __init__(self, name, timings, bar, verbose):
        self.name, self.timings, self.bar, self.verbose, self.lines = name, timings, bar, verbose, []

    def note(self, text: str) -> None:
        # The commands' summaries, without their advice to run the next command (we do).
        self.lines += [line for line in text.splitlines() if line.strip() and not line.startswith("Run `")]

    def __enter__(self):
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.timings[self.name] = secs = time.perf_counter() - self.t
        if exc[0] is None:
            self.bar.update(1)
            if self.verbose:
                self.bar.write(f"  {self.name}: {secs:.1f}s", file=sys.stderr)
                for line in self.lines[:6]:
                    self.bar.write(f"    | {line}", file=sys.stderr)
        return False


def _columns(votes, voter, author, post, value, created, voter_joined, solicited) -> dict[str, np.ndarray]:
    data = getattr(votes, "data", votes)  # a World carries its votes in .data
    if isinstance(data, VoteData):
        if len(data) and not len(data.voter_ids):
            raise ValueError("VoteData without voter_ids / voter_joined: the import needs every voter's join time")
        at = np.searchsorted(data.voter_ids, data.voter)
        if len(data) and not np.array_equal(data.voter_ids[np.minimum(at, len(data.voter_ids) - 1)], data.voter):
            raise ValueError("VoteData.voter_ids misses some voters")
        voter, author, post, value, created = data.voter, data.author, data.post, data.value, data.created
        voter_joined = np.asarray(data.voter_joined, float)[at]
        solicited = data.solicited_mask() if len(data.solicited) else None
    elif votes is not None:
        raise TypeError(f"votes must be a World or a VoteData, not {type(votes).__name__}")
    if any(x is None for x in (voter, author, post, value, created, voter_joined)):
        raise TypeError("pass a World / VoteData, or all of voter, author, post, value, created, voter_joined")
    cols = {
        "voter": np.asarray(voter, np.int64), "author": np.asarray(author, np.int64), "post": np.asarray(post, np.int64),
        "value": np.sign(np.asarray(value)).astype(np.int8), "created": np.asarray(created, float),
        "voter_joined": np.asarray(voter_joined, float),
    }
    if solicited is not None and np.asarray(solicited, bool).any():
        cols["solicited"] = np.asarray(solicited, bool)
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"per-vote arrays differ in length: {lengths}")
    if (cols["value"] == 0).any():
        raise ValueError("a vote's value must be +1 or -1 (found 0)")
    if (np.concatenate([cols["voter"], cols["author"], cols["post"]]) < 0).any():
        raise ValueError("ids must be non-negative")
    if len(cols["post"]):
        order = np.argsort(cols["post"], kind="stable")
        p, a = cols["post"][order], cols["author"][order]
        same = p[1:] == p[:-1]
        if (a[1:][same] != a[:-1][same]).any():
            raise ValueError("a post id is used by two authors (a post belongs to one author)")
    return cols


def _iso(t: np.ndarray) -> np.ndarray:
    """Epoch seconds as ISO 8601 UTC, to the microsecond (equal floats give equal strings)."""
    us = np.floor(np.asarray(t, float) * 1e6).astype("datetime64[us]")
    return np.char.add(np.datetime_as_string(us, unit="us"), "+00:00")


def _write_csv(path: Path, cols: dict[str, np.ndarray]) -> None:
    header = HEADER + (["solicited"] if "solicited" in cols else [])
    columns = [
        np.full(len(cols["value"]), PLATFORM),
        cols["post"].astype(str),
        np.char.add("m", cols["author"].astype(str)),
        np.char.add("v", cols["voter"].astype(str)),
        cols["value"].astype(str),
        _iso(cols["created"]),
        _iso(cols["voter_joined"]),
    ]
    if "solicited" in cols:
        columns.append(np.where(cols["solicited"], "1", "0"))
    handles = columns[2]
    if len(handles) and max(map(len, handles)) > 15:
        raise ValueError("author id too large for an X handle (m + at most 14 digits)")
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(zip(*(c.tolist() for c in columns)))


def _read_export(path: Path, n: int) -> ProductScores:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        names = reader.fieldnames or []
    missing = {"platform", "author", *NUMERIC} - set(names)
    if missing:
        raise RuntimeError(f"{path}: export lacks columns {sorted(missing)} (has {names})")
    out = ProductScores(
        score=np.full(n, np.nan), low=np.full(n, np.nan), high=np.full(n, np.nan),
        votes=np.zeros(n, np.int64), voters=np.zeros(n, np.int64), exported=np.zeros(n, bool),
        extra={k: np.full(n, "", dtype=object) for k in names if k not in NUMERIC and k not in ("platform", "author")},
    )
    for row in rows:
        handle = row["author"]
        if row["platform"] != PLATFORM or not handle.startswith("m") or not handle[1:].isdigit():
            raise RuntimeError(f"{path}: unexpected author {row['platform']}/{handle} (the bench wrote only x/m<id>)")
        a = int(handle[1:])
        if a >= n:
            raise RuntimeError(f"{path}: author {handle} beyond n_authors={n}")
        for k, cast in NUMERIC.items():
            getattr(out, k)[a] = cast(row[k])
        for k, col in out.extra.items():
            col[a] = row[k]
        out.exported[a] = True
    return out


class _Database:
    """A throwaway database: PostgreSQL (created here, dropped by drop()) or a SQLite file in `work`."""

    def __init__(self, kind: str, work: Path):
        if kind not in ("auto", "postgresql", "sqlite"):
            raise ValueError(f"database must be auto, postgresql or sqlite, not {kind!r}")
        self.name = None
        if kind != "sqlite":
            try:
                self._admin("CREATE DATABASE {}", create=True)
            except Exception as exc:
                if kind == "postgresql":
                    raise RuntimeError(f"PostgreSQL on {PG['host']}:{PG['port']} is not usable: {exc}") from exc
                print(f"PostgreSQL not reachable ({str(exc).strip()}); using a temporary SQLite file", file=sys.stderr)
                self.name = None
        if self.name:
            self.backend = "postgresql"
            self.url = f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{self.name}"
        else:
            self.backend = "sqlite"
            self.url = f"sqlite:///{work / 'merit.sqlite3'}"

    def _admin(self, sql: str, create: bool = False) -> None:
        import psycopg2
        from psycopg2 import sql as pgsql

        conn = psycopg2.connect(dbname="postgres", connect_timeout=3, **PG)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                if create:
                    self.name = f"merit_bench_{os.getpid()}_{next(_runs)}"
                    cur.execute(f"DROP DATABASE IF EXISTS {self.name}")  # a leftover of a killed run with our pid
                cur.execute(pgsql.SQL(sql).format(pgsql.Identifier(self.name)))
        finally:
            conn.close()

    def drop(self) -> None:
        if self.name:
            try:
                self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            except Exception as exc:  # noqa: BLE001 (the run's result stands; say what is left behind)
                print(f"could not drop database {self.name}: {exc}", file=sys.stderr)


def _environment(database_url: str) -> dict[str, str]:
    """The commands' environment, as `make check-deploy` / .ci/run set it (production settings)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")}
    env.update({
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        # No Redis: a per-process cache (the recompute lock) and an in-memory broker, so nothing
        # this run publishes lands in the dev site's file-system broker (var/broker).
        "CELERY_BROKER_URL": "memory://",
        "CONN_MAX_AGE": "0",
    })
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    if not PYTHON.exists():
        raise RuntimeError(f"{PYTHON} not found: run `make install` in {PROJECT}")
    cmd = [str(PYTHON), "manage.py", *args]
    proc = subprocess.run(cmd, check=False, cwd=PROJECT, env=env, capture_output=True, text=True)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"`{' '.join(cmd[1:])}` failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout
