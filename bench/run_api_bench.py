"""API benchmark (not a test): `make bench-api`.

Starts gunicorn with config/gunicorn.py (the README's configuration, DEBUG off) on 127.0.0.1 against
PostgreSQL (its own database, merit_apibench) and Redis, seeds authors with reputations and users with
device tokens, then drives it over loopback with wrk (Debian package `wrk`) for a bounded time per
scenario and reports requests/s and p50/p95/p99 (read scenarios run interleaved in rounds; the median
round is reported, since the machine may be shared):

  ceiling   GET /api/v1/ping                       a trivial Django view, same server and middleware
  single    GET /api/v1/authors/x/<handle>         rotating over the hot handles
  batch100  GET /api/v1/authors?handles=<100>      100 handles per request, ~10% unknown
            (also at 2 connections: latency without queueing on a saturated server)
  votes     POST /api/v1/votes                     distinct users (tokens) and posts, sustained

Throttles stay on (every request still counts in Redis) with quotas raised so they never trip.
Results go to bench/api/results.json. The machine is shared: run it when nothing else is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "api"
LUA = OUT / "lua"
DB_NAME = os.environ.get("API_BENCH_DB", "merit_apibench")
PG = os.environ.get("API_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("API_BENCH_REDIS", "redis://127.0.0.1:6379/6")
PORT = int(os.environ.get("API_BENCH_PORT", "8765"))
HIGH = "100000000/min"

ENV = {
    **os.environ,
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "REDIS_URL": REDIS_URL,
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "SITE_URL": f"http://127.0.0.1:{PORT}",
    "THROTTLE_ANON": HIGH, "THROTTLE_USER": HIGH, "THROTTLE_API_KEY": HIGH, "THROTTLE_VOTES": HIGH,
    "LOG_LEVEL": "WARNING",
    # Post previews are fetched by a worker this bench does not run; should one run, it contacts nothing.
    "PREVIEW_X_OEMBED_URL": "http://127.0.0.1:9/oembed", "PREVIEW_BLUESKY_API_URL": "http://127.0.0.1:9/xrpc",
    "PREVIEW_MASTODON_URL_TEMPLATE": "http://127.0.0.1:9/{instance}/{id}",
    "GUNICORN_BIND": f"127.0.0.1:{PORT}",
    "GUNICORN_ACCESSLOG": "",  # wrk would otherwise measure the terminal
    "DJANGO_SETTINGS_MODULE": "config.settings",
}


def sh(*args, **kwargs):
    return subprocess.run(args, check=True, env=ENV, cwd=ROOT, **kwargs)


def prepare_database(authors: int, users: int) -> list[str]:
    """Fresh database, migrated and seeded; returns the users' device tokens."""
    sys.path.insert(0, str(ROOT))
    from bench.pgdb import recreate_database

    recreate_database(PG, DB_NAME)
    sh(sys.executable, "manage.py", "migrate", "--noinput", "-v0")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()

    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from knox.models import AuthToken

    from reputation.models import AuthorReputation, Status
    from votes.models import Author

    now = timezone.now()
    Author.objects.bulk_create(
        [Author(platform="x", handle=f"author{i}", follower_count=i * 7) for i in range(authors)], batch_size=2000
    )
    statuses = [Status.ESTABLISHED, Status.PROVISIONAL, Status.INSUFFICIENT]
    AuthorReputation.objects.bulk_create(
        [
            AuthorReputation(
                author=a, score=30 + (a.pk * 37) % 60, low=20, high=95, upvotes=a.pk % 50, downvotes=a.pk % 7,
                voters=a.pk % 40, effective_voters=(a.pk % 40) * 0.7, status=statuses[a.pk % 3],
                percentile=(a.pk * 13) % 100, explanation={"summary": "Seeded for the benchmark."}, updated_at=now,
            )
            for a in Author.objects.all()
        ],
        batch_size=2000,
    )
    User = get_user_model()
    User.objects.bulk_create([User(username=f"voter{i}", password="!") for i in range(users)], batch_size=2000)
    User.objects.update(date_joined=now - timezone.timedelta(days=400))
    tokens = [AuthToken.objects.create(user=u)[1] for u in User.objects.order_by("pk")]
    from django.db import connections

    connections.close_all()
    return tokens


def write_lua(tokens: list[str], authors: int, hot: int, vote_authors: int) -> None:
    LUA.mkdir(parents=True, exist_ok=True)
    report = """
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, '
    .. '"non_2xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""
    (LUA / "ping.lua").write_text(report)
    (LUA / "single.lua").write_text(f"""
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/v1/authors/x/author" .. ((n * 7919) % {hot}))
end
""" + report)
    (LUA / "batch.lua").write_text(f"""
local n = 0
request = function()
  n = n + 1
  local parts = {{}}
  for i = 1, 100 do
    local k = (n * 100 + i) * 7919 % {int(authors * 1.1)}
    parts[i] = "author" .. k
  end
  return wrk.format("GET", "/api/v1/authors?platform=x&handles=" .. table.concat(parts, ","))
end
""" + report)
    token_table = ",".join(f'"{t}"' for t in tokens)
    (LUA / "votes.lua").write_text(f"""
local tokens = {{{token_table}}}
local n = 0
thread_id = 0  -- global: set per thread by setup()
local counter = 1
run = os.time()
setup = function(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end
request = function()
  n = n + 1
  local token = tokens[(n * 31 + thread_id) % #tokens + 1]
  -- below 2^53 (Lua numbers are doubles); distinct per run, thread and request
  local post = 1000000000000000 + (run % 100000) * 100000000 + thread_id * 10000000 + n
  local body = string.format('{{"platform": "x", "post_id": "%d", "author": "author%d", "value": %d}}',
    post, n % {vote_authors}, (n % 3 == 0) and -1 or 1)
  return wrk.format("POST", "/api/v1/votes",
    {{["Authorization"] = "Token " .. token, ["Content-Type"] = "application/json"}}, body)
end
""" + report)


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not come up at {url}")


def wrk(script: str, seconds: int, connections: int, threads: int, path: str = "/api/v1/ping") -> dict:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(LUA / script),
         f"http://127.0.0.1:{PORT}{path}"],
        check=True, capture_output=True, text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["rps"] = round(result["requests"] / result["seconds"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=6, help="per read scenario and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the read scenarios (median kept)")
    parser.add_argument("--vote-seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (load generator CPU)")
    parser.add_argument("--authors", type=int, default=10000)
    parser.add_argument("--hot", type=int, default=1000, help="distinct handles in the single-lookup rotation")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--vote-authors", type=int, default=1000, help="distinct authors the votes go to")
    parser.add_argument("--vote-connections", type=int, default=32, help="votes wait on commits: more in flight")
    parser.add_argument("--only", nargs="*", help="run only these scenarios (ceiling single batch100 votes)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")

    print(f"seeding {DB_NAME}: {args.authors} authors, {args.users} users with tokens ...", flush=True)
    tokens = prepare_database(args.authors, args.users)
    write_lua(tokens, args.authors, args.hot, args.vote_authors)

    log_path = Path(tempfile.gettempdir()) / f"merit-api-bench-gunicorn-{os.getpid()}.log"
    log = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
        env=ENV, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    results: dict[str, dict] = {}
    try:
        wait_until_up(f"http://127.0.0.1:{PORT}/api/v1/ping")
        load = {"connections": args.connections, "threads": args.threads}
        light = {**load, "connections": 2}
        reads = [
            ("ceiling", "ping.lua", "/api/v1/ping", load),
            ("single", "single.lua", "/", load),
            ("batch100", "batch.lua", "/", load),
            # The same batch at light load: latency without the queueing of a saturated server.
            ("batch100_c2", "batch.lua", "/", light),
        ]
        reads = [r for r in reads if not args.only or r[0] in args.only]
        for _name, script, path, this_load in reads:
            wrk(script, 2, **this_load, path=path)  # warm-up: imports, connections, caches
        # The machine is shared: interleave the read scenarios in rounds and keep each one's median round,
        # so a burst of someone else's work does not land on one scenario only.
        rounds: dict[str, list[dict]] = {name: [] for name, *_ in reads}
        for round_no in range(args.rounds):
            for name, script, path, this_load in reads:
                rounds[name].append(wrk(script, args.seconds, **this_load, path=path))
                print(f"round {round_no + 1} {name:9s} {rounds[name][-1]}", flush=True)
        for name, runs in rounds.items():
            results[name] = {**sorted(runs, key=lambda r: r["rps"])[len(runs) // 2], "rounds_rps": [r["rps"] for r in runs]}
        if not args.only or "votes" in args.only:
            vote_load = {**load, "connections": args.vote_connections}
            wrk("votes.lua", 2, **vote_load)
            results["votes"] = wrk("votes.lua", args.vote_seconds, **vote_load)
            print(f"votes     {results['votes']}", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

    from votes.models import Vote

    if args.only:
        return
    ratios = sorted(
        round(s_rps / c_rps, 3)
        for s_rps, c_rps in zip(results["single"]["rounds_rps"], results["ceiling"]["rounds_rps"], strict=True)
    )
    single_ratio = ratios[len(ratios) // 2]
    summary = {
        "config": {
            "gunicorn_workers": os.environ.get("GUNICORN_WORKERS", f"{os.cpu_count()} (one per cpu)"),
            "gunicorn_threads": os.environ.get("GUNICORN_THREADS", "8"), "cpus": os.cpu_count(),
            "wrk_connections": args.connections, "wrk_threads": args.threads, "rounds": args.rounds,
            "seconds_per_round": args.seconds, "load_average_after": os.getloadavg(),
            "authors": args.authors, "hot_handles": args.hot, "users": args.users,
            "vote_authors": args.vote_authors, "vote_connections": args.vote_connections,
        },
        "results": results,
        "single_vs_ceiling": single_ratio,
        # Each round runs ceiling then single back to back, so their ratio is less exposed to other load.
        "single_vs_ceiling_by_round": ratios,
        "votes_in_db": Vote.objects.count(),
        "targets": {
            "single >= 70% of ceiling (median round)": single_ratio >= 0.7,
            "batch100 p95 < 25 ms (8 connections)": results["batch100"]["p95_ms"] < 25,
            "batch100 p95 < 25 ms (2 connections)": results["batch100_c2"]["p95_ms"] < 25,
            "votes >= 300/s": results["votes"]["rps"] >= 300,
        },
    }
    (OUT / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print()
    print(f"{'scenario':10s} {'req/s':>9s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'non-2xx':>8s}")
    for name, r in results.items():
        print(f"{name:10s} {r['rps']:9.1f} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['p99_ms']:8.2f} {r['non_2xx']:8d}")
    print(f"\nsingle / ceiling by round: {ratios} (median {single_ratio:.0%}); votes stored: {summary['votes_in_db']}")
    for target, met in summary["targets"].items():
        print(f"  {'met ' if met else 'MISSED'} {target}")
    print(f"server log: {log_path}")


if __name__ == "__main__":
    main()
