"""Benchmark: `import_votes` of a 1,000,000-row CSV, then `recompute_reputation`, on PostgreSQL.

    .venv/bin/python bench/import_bench.py                 # 1M rows into a fresh `merit_bench` database
    .venv/bin/python bench/import_bench.py --rows 100000   # a quicker run
    .venv/bin/python bench/import_bench.py --rerun         # also time a second import of the same file
    .venv/bin/python bench/import_bench.py --rows 10000000 --posts 1000000 --authors 100000 --voters 500000 --rerun
    .venv/bin/python bench/import_bench.py --indexes keep  # import with the indexes updated row by row
    .venv/bin/python bench/import_bench.py --drop          # drop the database at the end (a shared cluster)
    .venv/bin/python bench/import_bench.py --statements 20 # the first import's 20 slowest SQL statements
    .venv/bin/python bench/import_bench.py --statements 20 --rerun  # and the re-import's

It writes a deterministic CSV (seeded NumPy: by default 100k posts by 20k authors,
50k voters, every (voter, post) pair distinct, popularity and activity skewed) to
bench/out/ (git-ignored; reused when it already exists), drops and recreates the
database named by --db on the PostgreSQL at --pg (default postgres@127.0.0.1:5432),
runs `migrate`, then times each management command as a subprocess, exactly as
an operator would run it, and prints the wall-clock times and rows per second, with the machine's
load average (1 minute) before and after each command: on a shared machine it says how far to trust a figure.
Redis is not used (the commands need none); the broker stays the local default.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
HEADER = "platform,post_id,author,voter,value,created_at,voter_joined_at\n"
END = np.datetime64("2025-06-01T00:00:00", "s")  # fixed, so the file is the same on every machine
DAY = 86400


def generate(path: Path, rows: int, posts: int, authors: int, voters: int, seed: int = 20250601) -> None:
    rng = np.random.default_rng(seed)
    end = END.astype(np.int64)
    # Authors: a hidden quality and a skewed popularity (a few authors get most posts and votes).
    quality = rng.normal(0.0, 1.0, authors)
    author_pop = rng.lognormal(0.0, 1.2, authors)
    post_author = rng.choice(authors, size=posts, p=author_pop / author_pop.sum())
    post_time = end - rng.integers(1 * DAY, 365 * DAY, posts)
    post_pop = rng.lognormal(0.0, 1.0, posts) * author_pop[post_author]
    # Voters: account ages from 10 days to 4 years; activity skewed.
    joined = end - rng.integers(10 * DAY, 4 * 365 * DAY, voters)
    activity = rng.lognormal(0.0, 1.0, voters)
    leniency = rng.normal(0.3, 0.5, voters)

    # Distinct (voter, post) pairs: oversample, keep first occurrences until there are enough.
    codes = np.empty(0, np.int64)
    while len(codes) < rows:
        n = int((rows - len(codes)) * 1.3) + 1000
        v = rng.choice(voters, size=n, p=activity / activity.sum())
        p = rng.choice(posts, size=n, p=post_pop / post_pop.sum())
        fresh = np.concatenate([codes, v.astype(np.int64) * posts + p])
        _, first = np.unique(fresh, return_index=True)
        codes = fresh[np.sort(first)]
    codes = codes[:rows]
    v, p = codes // posts, codes % posts

    start = np.maximum(joined[v], post_time[p])
    created = start + ((end - start) * rng.beta(1.0, 6.0, rows)).astype(np.int64)
    p_up = 1.0 / (1.0 + np.exp(-(1.5 * quality[post_author[p]] + leniency[v] + rng.normal(0, 0.5, rows))))
    value = np.where(rng.random(rows) < p_up, "1", "-1")

    def iso(seconds: np.ndarray) -> np.ndarray:
        return np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]")), "Z")

    handles = np.array([f"author_{i:05d}" for i in range(authors)])
    post_ids = np.array([str(1_790_000_000_000_000_000 + i * 7919) for i in range(posts)])
    names = np.array([f"voter{i:05d}" for i in range(voters)])
    joined_iso, created_iso = iso(joined), iso(created)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        pa = post_author[p]
        f.writelines(
            f"x,{post_ids[p[i]]},{handles[pa[i]]},{names[v[i]]},{value[i]},{created_iso[i]},{joined_iso[v[i]]}\n"
            for i in range(rows)
        )
    tmp.rename(path)


def drop_database(server_url: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{server_url}/postgres")
    conn.autocommit = True  # DROP DATABASE cannot run in a transaction
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def run(args: list[str], env: dict, script: str = "manage.py") -> tuple[float, str]:
    print(f"$ {script} {' '.join(args)}", flush=True)
    before = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run([sys.executable, script, *args], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started, f"load {before:.1f} -> {os.getloadavg()[0]:.1f}"


def statements(path: str, shown: int) -> None:
    """import_votes in this process, each SQL statement timed: wall clock and the CPU seconds of the
    PostgreSQL backend that ran it (from /proc, so the server must be on this machine). On a shared
    machine the CPU figure says more than the wall clock. COPY (psycopg2's own) is not among them."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    def cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    timed: list[tuple[float, float, str]] = []

    def wrapper(execute, sql, params, many, context):
        wall, used = time.perf_counter(), cpu(pid)
        try:
            return execute(sql, params, many, context)
        finally:
            timed.append((time.perf_counter() - wall, cpu(pid) - used, " ".join(sql.split())))

    used = cpu(pid)
    with connection.execute_wrapper(wrapper):
        call_command("import_votes", path, verbosity=2)
    print(f"backend CPU {cpu(pid) - used:.1f}s in all, {sum(t[1] for t in timed):.1f}s in {len(timed)} statements;"
          f" the {shown} slowest (wall s, CPU s):")
    for wall, used, sql in sorted(timed, reverse=True)[:shown]:
        print(f"  {wall:7.2f} {used:6.2f}  {sql[:150]}")


def main() -> None:
    if sys.argv[1:2] == ["--child-statements"]:  # the first import, run by --statements
        statements(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--authors", type=int, default=20_000)
    parser.add_argument("--voters", type=int, default=50_000)
    parser.add_argument("--db", default="merit_bench")
    parser.add_argument("--pg", default="postgres@127.0.0.1:5432", help="user@host:port of the PostgreSQL server")
    parser.add_argument("--rerun", action="store_true", help="also time a second import of the same file")
    parser.add_argument("--indexes", choices=["auto", "keep", "rebuild"], default="auto", help="import_votes --indexes")
    parser.add_argument("--no-recompute", action="store_true", help="skip recompute_reputation")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end (10M rows take ~5 GB)")
    parser.add_argument("--statements", type=int, default=0, metavar="N",
                        help="time the first import's SQL statements (and with --rerun the re-import's) and show the N slowest")
    opts = parser.parse_args()

    path = OUT / f"votes_{opts.rows}_{opts.posts}_{opts.authors}_{opts.voters}.csv"
    if not path.exists():
        t = time.perf_counter()
        generate(path, opts.rows, opts.posts, opts.authors, opts.voters)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s")
    else:
        print(f"using existing {path}")

    sys.path.insert(0, str(ROOT))
    from bench.pgdb import recreate_database

    recreate_database(f"postgresql://{opts.pg}", opts.db)
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": f"postgres://{opts.pg}/{opts.db}"}
    env.pop("REDIS_URL", None)
    run(["migrate", "--noinput", "-v0"], env)

    if opts.statements:
        child = ["--child-statements", str(path), str(opts.statements)]
        results = {"import": run(child, env, script="bench/import_bench.py")}
    else:
        results = {"import": run(["import_votes", str(path), "-v2", "--indexes", opts.indexes], env)}
    if opts.rerun and opts.statements:
        child = ["--child-statements", str(path), str(opts.statements)]
        results["re-import"] = run(child, env, script="bench/import_bench.py")
    elif opts.rerun:
        results["re-import"] = run(["import_votes", str(path), "-v2", "--indexes", opts.indexes], env)
    if not opts.no_recompute:
        results["recompute"] = run(["recompute_reputation"], env)

    print(f"\n{opts.rows:,} rows ({opts.posts:,} posts, {opts.authors:,} authors, {opts.voters:,} voters), "
          f"{os.cpu_count()} CPUs")
    for name, (seconds, load) in results.items():
        print(f"  {name:<10} {seconds:7.1f}s  {opts.rows / seconds:10,.0f} rows/s   ({load})")
    if opts.drop:
        drop_database(f"postgresql://{opts.pg}", opts.db)


if __name__ == "__main__":
    main()
