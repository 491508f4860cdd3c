"""Metrics during a vote burst (not a test): `.venv/bin/python bench/metrics_burst.py`.

What an operator's Prometheus would see while votes pour in. On a throwaway PostgreSQL database
(merit_metricsburst, dropped and made again) and its own Redis database, it starts the site as the README
runs it (gunicorn with config/gunicorn.py, DEBUG off, one process per core, so /metrics adds up every
worker's counters) and a real Celery worker with beat embedded (as `make run` has). Then:

  before   one scrape of /metrics once a first full refit (sent to the worker) has stored its results
  burst    --votes votes through POST /api/v1/votes from --users users (their own tokens), --concurrency
           at a time, on posts of --authors authors, while /metrics is scraped every --every seconds
  reads    --reads anonymous card lookups of a few authors, under a low anonymous quota (--anon-rate):
           the card caches answer most of them and the quota refuses the rest (cache-hit, throttled counters)
  after    scrapes until the outbox is empty (every refresh the votes asked for has run)
  refit    a second full refit, scraped until its results are stored (the refit age starts again)

It prints the merit_* gauges and counters and Django's request counters at each scrape, and writes them
all to bench/out/metrics_burst.json. Loopback only, bounded in count and time; it stops what it started.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DB_NAME = os.environ.get("METRICS_BURST_DB", "merit_metricsburst")
PG = os.environ.get("METRICS_BURST_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("METRICS_BURST_REDIS", "redis://127.0.0.1:6379/9")
PORT = int(os.environ.get("METRICS_BURST_PORT", "8766"))
BASE = f"http://127.0.0.1:{PORT}"

# The figures printed per scrape: (column, metric name, labels that must match).
COLUMNS = [
    ("pending", "merit_outbox_pending_authors", {}),
    ("oldest_s", "merit_outbox_oldest_seconds", {}),
    ("attempts", "merit_outbox_max_attempts", {}),
    ("stuck", "merit_outbox_stuck_authors", {}),
    ("refit_age_s", "merit_last_refit_age_seconds", {}),
    ("refit_s", "merit_refit_duration_seconds", {}),
    ("throttled", "merit_throttled_requests_total", {}),
    ("hits", "merit_cache_hits_total", {}),
    ("misses", "merit_cache_misses_total", {}),
    ("requests", "django_http_requests_total_by_method_total", {}),
    ("posts", "django_http_requests_total_by_method_total", {"method": "POST"}),
]


def environment(anon_rate: str, metrics_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SITE_URL": BASE,
        "LOG_LEVEL": "WARNING",
        "GUNICORN_BIND": f"127.0.0.1:{PORT}",
        "GUNICORN_ACCESSLOG": "",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "THROTTLE_ANON": anon_rate,
        "THROTTLE_USER": "100000/min",
        "THROTTLE_VOTES": "100000/min",  # the burst is one user's many votes: only the read quota is tested
        # Every new post asks the worker for its preview from the platform: here a closed loopback port
        # answers at once (refused), so nothing leaves the machine and no fetch holds the worker up.
        "PREVIEW_X_OEMBED_URL": "http://127.0.0.1:9/oembed",
        "PREVIEW_BLUESKY_API_URL": "http://127.0.0.1:9/xrpc",
        "PREVIEW_MASTODON_URL_TEMPLATE": "http://127.0.0.1:9/{instance}/{id}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
    }


def prepare_database(env: dict[str, str], users: int, authors: int) -> list[str]:
    """A fresh database, migrated, with authors and users; returns the users' tokens."""
    import redis

    sys.path.insert(0, str(ROOT))
    from bench.pgdb import recreate_database

    recreate_database(PG, DB_NAME)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], check=True, env=env, cwd=ROOT)
    redis.Redis.from_url(REDIS_URL).flushdb()

    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.utils import timezone
    from knox.models import AuthToken

    from votes.models import Author

    Author.objects.bulk_create([Author(platform="x", handle=f"author{i}", follower_count=100 * i) for i in range(authors)])
    User = get_user_model()
    User.objects.bulk_create([User(username=f"burster{i}", password="!") for i in range(users)])
    User.objects.update(date_joined=timezone.now() - timezone.timedelta(days=400))
    tokens = [AuthToken.objects.create(user=u)[1] for u in User.objects.order_by("pk")]
    connections.close_all()
    return tokens


def http(method: str, path: str, *, token: str | None = None, body: dict | None = None) -> int:
    request = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body else None)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code


def scrape() -> dict[str, float]:
    """The columns' values now (counters summed over their labels unless the column names some)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{BASE}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for column, name, labels in COLUMNS:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    values[column] = values.get(column, 0.0) + sample.value
            if sample.name == "merit_throttled_requests_total":
                values[f"throttled[{sample.labels.get('scope')}]"] = sample.value
            if sample.name == "django_http_responses_total_by_status_total":
                key = f"status[{sample.labels.get('status')}]"
                values[key] = values.get(key, 0.0) + sample.value
    return values


def enqueue_refit() -> None:
    """A full refit on the worker, as beat sends it (recompute_all's duration is what the gauge reports)."""
    import config.celery  # noqa: F401 (the Celery app, configured from the settings)
    from reputation.tasks import recompute_all

    recompute_all.delay()


def wait_for(predicate, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", type=int, default=300)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--authors", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between scrapes during the burst")
    parser.add_argument("--reads", type=int, default=120)
    parser.add_argument("--anon-rate", default="60/min", help="the anonymous quota during the run")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    args = parser.parse_args()

    metrics_dir = tempfile.mkdtemp(prefix="merit-metrics-burst-")
    env = environment(args.anon_rate, metrics_dir)
    print(f"seeding {DB_NAME}: {args.authors} authors, {args.users} users with tokens ...", flush=True)
    tokens = prepare_database(env, args.users, args.authors)

    logs = Path(tempfile.mkdtemp(prefix="merit-metrics-burst-logs-"))
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--beat", "--loglevel=warning", "--concurrency=1",
         f"--schedule={logs / 'beat-schedule'}"],
        env=env, cwd=ROOT, stdout=(logs / "worker.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
        env=env, cwd=ROOT, stdout=(logs / "gunicorn.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    started = time.monotonic()
    samples: list[dict] = []

    def sample(phase: str) -> dict:
        row = {"phase": phase, "t": round(time.monotonic() - started, 2), **scrape()}
        samples.append(row)
        return row

    try:
        wait_for(lambda: http("GET", "/api/v1/ping") == 200, 60, "the site")
        enqueue_refit()
        wait_for(lambda: "refit_s" in scrape(), 120, "the worker's first refit")
        sample("before")

        jobs = [(tokens[i % len(tokens)], i) for i in range(args.votes)]
        statuses: dict[int, int] = {}
        done = threading.Event()

        def scraper() -> None:
            while not done.is_set():
                sample("burst")
                done.wait(args.every)

        def vote(job: tuple[str, int]) -> int:
            token, i = job
            body = {"platform": "x", "post_id": str(1790000000000000000 + i), "author": f"author{i % args.authors}",
                    "value": -1 if i % 4 == 0 else 1}
            return http("POST", "/api/v1/votes", token=token, body=body)

        watcher = threading.Thread(target=scraper, daemon=True)
        burst_started = time.monotonic()
        watcher.start()
        with ThreadPoolExecutor(args.concurrency) as pool:
            for status in pool.map(vote, jobs):
                statuses[status] = statuses.get(status, 0) + 1
        burst_seconds = time.monotonic() - burst_started
        done.set()
        watcher.join()
        sample("burst end")

        read_statuses: dict[int, int] = {}
        for i in range(args.reads):
            status = http("GET", f"/api/v1/authors/x/author{i % 5}")
            read_statuses[status] = read_statuses.get(status, 0) + 1
        sample("reads end")

        drain_started = time.monotonic()
        wait_for(lambda: sample("after")["pending"] == 0, args.drain_timeout, "the outbox to empty", every=1.0)
        drained_after = time.monotonic() - drain_started
        refit_before = samples[-1].get("refit_age_s", 0.0)
        enqueue_refit()  # the refit after the burst: its age starts again, its duration covers the votes
        wait_for(lambda: sample("refit")["refit_age_s"] < refit_before, 120, "the refit after the burst", every=1.0)
        sample("final")
    finally:
        for proc in (server, worker):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (server, worker):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    shown = [c for c, *_ in COLUMNS]
    print(f"\n{'phase':10s} {'t_s':>6s} " + " ".join(f"{c:>11s}" for c in shown))
    for row in samples:
        print(f"{row['phase']:10s} {row['t']:6.1f} " + " ".join(f"{row.get(c, float('nan')):11.2f}" for c in shown))
    last = samples[-1]
    print(f"\nvotes: {args.votes} in {burst_seconds:.1f} s ({args.votes / burst_seconds:.0f}/s), answers {statuses}")
    print(f"reads: {args.reads} anonymous card lookups under {args.anon_rate}, answers {read_statuses}")
    print(f"outbox empty {drained_after:.1f} s after the reads; peak pending "
          f"{max(r.get('pending', 0) for r in samples):.0f}, peak oldest {max(r.get('oldest_s', 0) for r in samples):.1f} s")
    print("final counters:", {k: v for k, v in last.items() if k.startswith(("throttled[", "status["))})
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "metrics_burst.json").write_text(json.dumps({
        "args": vars(args), "vote_answers": statuses, "read_answers": read_statuses,
        "burst_seconds": round(burst_seconds, 2), "drained_after_seconds": round(drained_after, 2), "samples": samples,
    }, indent=1) + "\n")
    print(f"samples: {OUT / 'metrics_burst.json'}; logs: {logs}")


if __name__ == "__main__":
    main()
