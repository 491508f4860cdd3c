"""The errors gunicorn answers itself, before Django sees the request, are problem+json like the API's own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .faults import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "2",
           "GUNICORN_ACCESSLOG": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--no-control-socket",
         "config.wsgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not exchange(port, b"NOT A REQUEST\r\n\r\n"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gunicorn did not start")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def exchange(port: int, request: bytes) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(request)
            answer = b""
            while chunk := conn.recv(65536):  # gunicorn closes the connection after an error
                answer += chunk
            return answer
    except OSError:
        return b""


def problem(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert b"Content-Type: application/problem+json" in head, head
    return status, json.loads(body)


@pytest.mark.parametrize("request_bytes, status, slug", [
    (b"GET /api/v1/authors?handles=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414, "uri-too-long"),
    (b"GET /api/v1/ping HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)) + b"\r\n",
     431, "request-header-fields-too-large"),
    (b"NOT A REQUEST\r\n\r\n", 400, "invalid-request"),
])
def test_gunicorns_own_refusals_are_problem_json(server, request_bytes, status, slug):
    answered, body = problem(exchange(server, request_bytes))
    assert answered == status and body["status"] == status
    assert body["type"].endswith(f"/problems/{slug}") and body["title"] and body["detail"]
