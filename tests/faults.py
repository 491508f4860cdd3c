"""Process-level helpers for fault-injection tests: a private Redis and real worker processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


class PrivateRedis:
    """A throwaway redis-server on a random loopback port that a test may stop, restart or pause."""

    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if not binary:
            pytest.fail("redis-server is not installed; fault-injection tests need it (apt-get install redis-server)")
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.05)
        pytest.fail("private redis-server did not start")

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
        except Exception:  # noqa: BLE001 - any failure to answer means "not up"
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def pause(self, seconds: float) -> None:
        import redis

        redis.Redis(port=self.port).execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")


def service_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CONN_MAX_AGE": "0",
        "REPUTATION_REFRESH_COUNTDOWN": "0",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


def start_worker(redis_url: str, logfile: Path, *, module: str = "celery", beat: bool = False, **extra) -> subprocess.Popen:
    """A real worker process (prefork, one child) on the given broker."""
    args = ["worker", "--loglevel=info", "--concurrency=1", "--pool=prefork", "--without-gossip", "--without-mingle",
            "--without-heartbeat"]
    if beat:
        args += ["--beat", f"--schedule={logfile.with_suffix('.beat')}"]
    if module == "celery":
        cmd = [sys.executable, "-m", "celery", "-A", "config", *args]
    else:
        cmd = [sys.executable, "-m", module, *args]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=service_env(redis_url, **extra), stdout=logfile.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def cast_vote_in_subprocess(redis_url: str, post_id: int, user_id: int, value: int, **extra: str) -> dict:
    """Cast a vote from a separate process, as a web request would; returns its timing."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.fault_driver", "vote", str(post_id), str(user_id), str(value)],
        cwd=ROOT, env=service_env(redis_url, **extra), capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def cast_votes_in_subprocess(redis_url: str, votes: list[tuple[int, int, int]], **extra: str) -> dict:
    """Cast several (post_id, user_id, value) votes from one separate process; returns its timing."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.fault_driver", "votes", *(f"{p}:{u}:{v}" for p, u, v in votes)],
        cwd=ROOT, env=service_env(redis_url, **extra), capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
