"""Full-refit speed at the issue-3 scale, read from PostgreSQL and written back.

    .venv/bin/python bench/refit_scale.py            # build merit_scale (several minutes), then time
    .venv/bin/python bench/refit_scale.py --reuse    # time again on the existing world

Options: --pg postgres://postgres@127.0.0.1:5432 (server), --db merit_scale, --votes/--posts/
--authors/--voters (default 10M/1M/100k/500k), --seed, --refresh-runs, --refits N (time N refits
in a row: the first after --fresh inserts every row, later ones update), --fresh, --backend local|dask
(dask: a LocalCluster of --workers processes, --memory-limit each; prints each worker's peak RSS and spill). The database is dedicated:
it is dropped and rebuilt unless --reuse is given. Prints the plain COPY of the votes table (the
floor), load, engine fit, write-back and total seconds of `recompute_all`, the peak RSS, and the
median `author_refresh` time for a typical (median) and the heaviest author (after the one-off
read of the refit's arrays, printed apart). Target (issue 3):
total <= 60 s on 2 cores, peak <= 4 GB, refresh <= 50 ms. Generating the default world takes
about 2.5 minutes; the data then stays for --reuse.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pgdb import recreate_database  # noqa: E402
from reputation import bulk  # (pure NumPy; no Django needed)

DAY = 86400.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pg", default=os.environ.get("SCALE_PG_URL", "postgres://postgres@127.0.0.1:5432"))
    p.add_argument("--db", default="merit_scale")
    p.add_argument("--reuse", action="store_true", help="keep the existing world, only time")
    p.add_argument("--votes", type=int, default=10_000_000)
    p.add_argument("--posts", type=int, default=1_000_000)
    p.add_argument("--authors", type=int, default=100_000)
    p.add_argument("--voters", type=int, default=500_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--refresh-runs", type=int, default=7)
    p.add_argument("--refits", type=int, default=1, help="time this many full refits in a row")
    p.add_argument("--fresh", action="store_true", help="empty the derived tables first (time a first-ever refit)")
    p.add_argument("--skip-refit", action="store_true", help="only the COPY floor and the refreshes")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="where the refit runs: this process, or a LocalCluster started here (reports each worker)")
    p.add_argument("--workers", type=int, default=2, help="Dask worker processes (--backend dask)")
    p.add_argument("--memory-limit", default="4GB", help="per Dask worker; beyond it a worker spills to disk")
    return p.parse_args()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


# --- the world --------------------------------------------------------------------------


def _text_copy(cur, table: str, columns: list[str], lines: list[str]) -> None:
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO("\n".join(lines) + "\n"))


def _without_constraints(cur, table: str):
    """Drop a table's secondary indexes and constraints; return the statements that restore them.

    Building an index once over 10M sorted rows is far faster than maintaining five of them
    (plus three foreign-key probes) row by row during the COPY.
    """
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('f', 'u', 'c')",
        [table],
    )
    constraints = cur.fetchall()
    cur.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
        [table],
    )
    indexes = cur.fetchall()
    for name, _ in constraints:
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cur.execute(f'DROP INDEX "{name}"')
    return [f'ALTER TABLE {table} ADD CONSTRAINT "{n}" {d}' for n, d in constraints] + [d for _, d in indexes]


def generate(args: argparse.Namespace) -> None:
    """Users, authors, posts and votes with heavy-tailed activity, written with COPY."""
    from django.db import connection

    rng = np.random.default_rng(args.seed)
    now = time.time()
    cur = bulk.raw_cursor(connection.cursor())
    cur.execute("SET maintenance_work_mem = '1GB'")
    cur.execute("SET synchronous_commit = off")

    # Voters: most joined over the last three years, 8% in the last month (not yet credible).
    nv = args.voters
    age_days = np.where(rng.random(nv) < 0.08, rng.uniform(0, 30, nv), rng.uniform(30, 1100, nv))
    joined = now - age_days * DAY
    log(f"users: {nv:,}")
    iso = np.datetime_as_string((joined * 1e6).astype("datetime64[us]"), unit="us")
    _text_copy(
        cur, "auth_user",
        ["id", "password", "is_superuser", "username", "first_name", "last_name", "email", "is_staff", "is_active", "date_joined"],
        [f"{i + 1}\t!\tf\tvoter{i + 1}\t\t\t\tf\tt\t{iso[i]}+00" for i in range(nv)],
    )
    cur.execute("SELECT setval(pg_get_serial_sequence('auth_user', 'id'), %s)", [nv])

    # Authors with heavy-tailed followers only weakly tied to a hidden quality.
    na = args.authors
    quality = rng.beta(2, 2, na)
    followers = np.round(np.exp(rng.normal(6 + quality, 2.0, na))).astype(np.int64)
    log(f"authors: {na:,}")
    _text_copy(
        cur, "votes_author", ["id", "platform", "handle", "follower_count", "first_seen"],
        [f"{i + 1}\tx\tauthor{i + 1}\t{followers[i]}\t{iso[0]}+00" for i in range(na)],
    )
    cur.execute("SELECT setval(pg_get_serial_sequence('votes_author', 'id'), %s)", [na])

    # Posts: authors post at heavy-tailed rates; every author has at least one post.
    npo = args.posts
    activity = np.exp(rng.normal(0, 1.2, na))
    post_author = np.concatenate([np.arange(na), rng.choice(na, npo - na, p=activity / activity.sum())])
    post_author.sort()
    log(f"posts: {npo:,}")
    ext = 1_790_000_000_000_000_000 + np.arange(npo, dtype=np.int64) * 7919
    _text_copy(
        cur, "votes_post", ["id", "platform", "external_id", "url", "first_seen", "author_id"],
        [
            f"{i + 1}\tx\t{ext[i]}\thttps://x.com/author{post_author[i] + 1}/status/{ext[i]}\t{iso[0]}+00\t{post_author[i] + 1}"
            for i in range(npo)
        ],
    )
    cur.execute("SELECT setval(pg_get_serial_sequence('votes_post', 'id'), %s)", [npo])

    # Votes: voter activity and post popularity both heavy-tailed; one vote per (voter, post).
    voter_rate = np.exp(rng.normal(0, 1.3, nv))
    post_pop = np.exp(rng.normal(0, 1.4, npo)) * np.exp(1.5 * quality[post_author])
    voter_cdf = np.cumsum(voter_rate / voter_rate.sum())
    post_cdf = np.cumsum(post_pop / post_pop.sum())
    keys = np.empty(0, np.int64)
    while len(keys) < args.votes:
        need = int((args.votes - len(keys)) * 1.05) + 1000
        v = np.minimum(np.searchsorted(voter_cdf, rng.random(need)), nv - 1)
        p = np.minimum(np.searchsorted(post_cdf, rng.random(need)), npo - 1)
        keys = np.unique(np.concatenate([keys, v.astype(np.int64) * npo + p]))
        log(f"votes drawn: {len(keys):,}")
    keys = rng.permutation(keys)[: args.votes]
    voter, post = keys // npo, keys % npo
    author = post_author[post]
    post_quality = np.clip(quality[author] + rng.normal(0, 0.15, len(post)), 0.02, 0.98)
    value = np.where(rng.random(len(post)) < post_quality, 1, -1).astype(np.int16)
    created = joined[voter] + rng.random(len(post)) * (now - joined[voter])
    order = np.argsort(created)  # the table fills in time order, as in production
    voter, post, author, value, created = voter[order], post[order], author[order], value[order], created[order]
    del keys, order

    restore = _without_constraints(cur, "votes_vote")
    chunk = 1_000_000
    for start in range(0, len(voter), chunk):
        sl = slice(start, start + chunk)
        ids = np.arange(start + 1, start + 1 + len(voter[sl]), dtype=np.int64)
        bulk.copy_in(
            cur, "votes_vote",
            ["id", "value", "reason", "created_at", "updated_at", "author_id", "post_id", "voter_id"],
            [("int8", ids), ("int2", value[sl]), ("text0", None), ("timestamptz", created[sl]),
             ("timestamptz", created[sl]), ("int8", author[sl] + 1), ("int8", post[sl] + 1), ("int4", voter[sl] + 1)],
        )
        log(f"votes copied: {min(start + chunk, len(voter)):,}")
    cur.execute("SELECT setval(pg_get_serial_sequence('votes_vote', 'id'), %s)", [len(voter)])
    for stmt in restore:
        log(f"restore: {stmt[:90]}")
        cur.execute(stmt)
    cur.execute("VACUUM ANALYZE votes_vote")
    cur.execute("ANALYZE")
    log("world ready")


# --- the timings ------------------------------------------------------------------------


def copy_floor(fmt: str = "text") -> tuple[float, int]:
    """A plain COPY of the votes table to the client, discarded: what no refit can beat."""
    from django.db import connection

    cur = bulk.raw_cursor(connection.cursor())
    with open(os.devnull, "wb") as sink:  # a C-level write: no Python work per row
        t = time.perf_counter()
        cur.copy_expert(f"COPY votes_vote TO STDOUT (FORMAT {fmt})", sink)
        return time.perf_counter() - t, sink.tell()


def time_write_stages() -> dict[str, float]:
    """Wrap the write-back functions so each refit can report where its write time went."""
    import functools

    from reputation import data_write

    times: dict[str, float] = {}

    def timer(name: str, fn):
        @functools.wraps(fn)
        def timed(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                times[name.removeprefix("write_")] = time.perf_counter() - t

        return timed

    from reputation import refit_write
    from reputation.engine import refit

    # On PostgreSQL outside a transaction the partitions stage their authors, posts, snapshots and packed
    # voters where they are (write_back), then one merge a table runs from here; the credibilities are
    # written meanwhile, on a connection of their own.
    for name in ("write_credibility", "write_reputations", "write_post_scores", "write_snapshots"):
        setattr(data_write, name, timer(name, getattr(data_write, name)))
    refit.write_back = timer("partitions staged", refit.write_back)
    refit_write.merge = timer("merged", refit_write.merge)
    return times


def vacuum_derived_tables() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "VACUUM ANALYZE reputation_votercredibility, reputation_authorreputation, "
            "reputation_postscore, reputation_reputationsnapshot, reputation_refitstate"
        )


def time_refresh(author_id: int, runs: int) -> float:
    from reputation.services import author_refresh

    times = []
    for _ in range(runs):
        t = time.perf_counter()
        author_refresh(author_id=author_id)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _worker_peak_and_spill(dask_worker=None) -> tuple[float, int]:
    """On a Dask worker: its peak RSS (MiB) and the bytes it has written to disk by spilling, in all (the
    worker's cumulative "disk-write" bytes metric; what is on disk at the end is usually nothing)."""
    total = getattr(dask_worker, "digests_total", {}) or {}
    spilled = sum(v for k, v in total.items() if isinstance(k, tuple) and "disk-write" in k and k[-1] == "bytes")
    return peak_rss_mb(), int(spilled)


def main() -> None:
    args = parse_args()
    os.environ["DATABASE_URL"] = f"{args.pg}/{args.db}"
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not args.reuse:
        log(f"recreating database {args.db}")
        recreate_database(args.pg, args.db)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)  # a reused world gets the code's newer migrations too
    if not args.reuse:
        t = time.perf_counter()
        generate(args)
        log(f"generation took {time.perf_counter() - t:.0f} s")

    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM votes_vote")
        (n_votes,) = c.fetchone()
        c.execute(
            "SELECT author_id, count(*) AS n FROM votes_vote GROUP BY author_id ORDER BY n"
        )
        counts = c.fetchall()
    typical = counts[len(counts) // 2]
    heavy = counts[-1]
    rss_before = peak_rss_mb()

    for fmt in ("text", "binary"):
        floor, _ = copy_floor(fmt)
        log(f"COPY votes_vote TO STDOUT (FORMAT {fmt}), discarded (the floor): {floor:.2f} s for {n_votes:,} votes")

    cluster = client = None
    if args.backend == "dask" and not args.skip_refit:
        from distributed import Client, LocalCluster
        from django.conf import settings

        from reputation.refit_backend import NO_DASHBOARD

        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               memory_limit=args.memory_limit, dashboard_address=None,
                               scheduler_kwargs=NO_DASHBOARD)
        client = Client(cluster)
        settings.DASK_SCHEDULER_ADDRESS = cluster.scheduler_address  # the refit's executor connects here
        log(f"Dask LocalCluster: {args.workers} workers x 1 thread, memory limit {args.memory_limit} each")
    if not args.skip_refit:
        from reputation.services import recompute_all

        stage_times = time_write_stages()
        if args.fresh:
            with connection.cursor() as c:
                c.execute(
                    "TRUNCATE reputation_votercredibility, reputation_authorreputation, reputation_postscore, "
                    "reputation_reputationsnapshot"
                )
        for run in range(1, args.refits + 1):
            # Each refit rewrites every derived row; autovacuum reclaims them between the periodic
            # refits (minutes apart), so each timed refit starts from vacuumed tables as it would there.
            vacuum_derived_tables()
            t = time.perf_counter()
            result = recompute_all(progress=lambda stage, done, total: None, backend=args.backend)
            total = time.perf_counter() - t
            log(
                f"recompute_all #{run}: load {result['load']:.2f} s, fit {result['compute']:.2f} s, "
                f"write {result['write']:.2f} s, total {total:.2f} s "
                f"({result['votes']:,} votes, {result['authors']:,} authors, {result['voters']:,} voters)"
            )
            from reputation.engine import refit

            log("  fit stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in refit.last_timings.items()))
            log("  group steps over the partitions: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in refit.last_group_timings.items()))
            log("  write stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in stage_times.items()))
            stage_times.clear()
        log(f"peak RSS: {peak_rss_mb():.0f} MiB (before the refit: {rss_before:.0f} MiB)")
        if client is not None:
            for addr, (peak, spilled) in sorted(client.run(_worker_peak_and_spill).items()):
                log(f"  Dask worker {addr}: peak RSS {peak:.0f} MiB, written to disk by spilling {spilled / 2**20:.0f} MiB")
            client.close()
            cluster.close()

    vacuum_derived_tables()  # this server may run without autovacuum; production would have it
    from reputation import services

    # A worker process reads the last refit's arrays once per refit, on its first refresh after it.
    services._state_cache.clear()
    t = time.perf_counter()
    loaded = services.refit_state() is not None
    log(f"refit state read by a worker's first refresh after a refit: {(time.perf_counter() - t) * 1000:.0f} ms"
        + ("" if loaded else " (none: no refit yet)"))
    if loaded:
        from django.db.models import Count, Sum
        from django.db.models.functions import Length

        from reputation.models import AuthorVoterState, RefitStatePart

        whole = RefitStatePart.objects.aggregate(b=Sum(Length("data")))["b"] or 0
        packed = AuthorVoterState.objects.aggregate(n=Count("pk"), b=Sum(Length("data")))
        held = sum(a.nbytes for a in services.refit_state().values() if isinstance(a, np.ndarray))
        log(f"refit state: {whole / 2**20:.1f} MiB stored, {held / 2**20:.1f} MiB held by each refreshing process; "
            f"voters packed for {packed['n']:,} authors over {services.PACK_MIN_VOTERS:,} voters: "
            f"{(packed['b'] or 0) / 2**20:.0f} MiB, each refresh reads its own author's")
    for label, (author_id, n) in (("typical", typical), ("heavy", heavy)):
        ms = time_refresh(author_id, args.refresh_runs)
        log(f"author_refresh, {label} author {author_id} ({n:,} votes): median {ms:.1f} ms over {args.refresh_runs} runs")


if __name__ == "__main__":
    main()
