"""Gunicorn settings the README recommends: `gunicorn -c config/gunicorn.py config.wsgi:application`.

gthread workers: the app is sync WSGI and spends much of each request waiting on PostgreSQL
and Redis, so a few threads per process overlap those waits while processes use the cores.
Every value can be overridden from the environment (GUNICORN_*).
"""

import multiprocessing
import os
import shutil
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
# One process per core, eight threads each: requests mostly wait on PostgreSQL and Redis, and threads
# overlap those waits; more processes than cores only added context switches (API bench, 2 cores:
# 2x8 gave single 2022 req/s and 328 votes/s where 4x4 gave 1716-1747 and 302-335).
workers = int(os.environ.get("GUNICORN_WORKERS", str(multiprocessing.cpu_count())))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# One listening socket per worker (SO_REUSEPORT): the kernel spreads connections evenly. With a shared
# socket, whichever worker wakes first accepts them, and long-lived keep-alive connections then pile onto
# one or two processes, each held to one core by the GIL (measured: two of four workers did ~90% of the work).
reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "1") == "1"
# Load Django once in the master: faster worker (re)starts, shared memory pages.
preload_app = True
# Keep-alive for clients that pipeline requests (the extension's service worker, API clients).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# No periodic recycling by default: with one socket per worker, a recycled worker's share of new
# connections waits ~2 s for its replacement (seen in the API bench as 2 s p95 stalls). Set
# GUNICORN_MAX_REQUESTS (e.g. 100000) if a memory leak ever needs it.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# Only trust X-Forwarded-* from the local reverse proxy.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Access log with the request id the API echoes (X-Request-ID), to join with application logs.
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


# Prometheus (/metrics): each worker process counts for itself, so with several workers they write their
# counters to files here and /metrics adds every worker's up (prometheus_client's multiprocess mode, read
# by config.ops.metrics). Emptied at each start; set PROMETHEUS_MULTIPROC_DIR to put it elsewhere (a tmpfs).
if workers > 1:
    _metrics_dir = Path(os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR", str(Path(__file__).resolve().parent.parent / "var" / "prometheus")
    ))
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    _metrics_dir.mkdir(parents=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_fork(server, worker):
    # Connections opened in the master (preload) must not be shared with the children.
    from django.db import connections

    connections.close_all()


def _problem_json_errors() -> None:
    """Gunicorn's own answers (414 for a request line over limit_request_line, 431 for too many or too long
    headers, 400 for a malformed request) are HTML; API clients expect RFC 9457 problem+json like every
    other error. Gunicorn has no setting or hook for these bodies, so the one function that writes them
    (gunicorn.util.write_error, called as util.write_error by the workers) is replaced; tests/test_gunicorn.py
    runs a real gunicorn to hold it to that."""
    import json

    from gunicorn import util

    if getattr(util.write_error, "_merit_problem_json", False):
        return

    def write_error(sock, status_int, reason, mesg):
        try:  # the app is loaded (preload_app), so the API's own problem types are at hand
            from api.problems import server_problem
        except Exception:  # noqa: BLE001 - whatever stops that, the answer still goes out
            problem = {"type": "about:blank", "title": reason, "status": status_int, "detail": mesg, "instance": ""}
        else:
            problem = server_problem(status_int, reason, mesg)
        body = json.dumps(problem).encode()
        head = (
            f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        util.write_nonblock(sock, head.encode("latin-1") + body)

    write_error._merit_problem_json = True
    util.write_error = write_error


_problem_json_errors()
