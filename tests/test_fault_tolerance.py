"""No vote is lost and no refresh is lost when Redis dies, hangs, or a worker is killed mid-task.

Each test runs its own redis-server and real worker processes against the test database.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from reputation.models import AuthorReputation, PendingRefresh
from tests.conftest import make_user, wait_for
from tests.faults import (
    PrivateRedis,
    cast_vote_in_subprocess,
    cast_votes_in_subprocess,
    start_worker,
    stop_process,
)
from votes import services
from votes.models import Vote

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def redis_server(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world():
    post = services.post_register(url="https://x.com/writer/status/777")
    voter = make_user("faulty", days_old=500)
    return post, voter


def refreshed(post) -> AuthorReputation | None:
    return AuthorReputation.objects.filter(author_id=post.author_id, upvotes=1).first()


def test_a_vote_survives_redis_being_down_and_is_refreshed_when_it_returns(redis_server, world, tmp_path):
    post, voter = world
    worker = start_worker(
        redis_server.url, tmp_path / "worker.log", beat=True,
        REPUTATION_SWEEP_SECONDS="1", REPUTATION_SWEEP_AFTER_SECONDS="1",
    )
    try:
        redis_server.stop()
        result = cast_vote_in_subprocess(redis_server.url, post.pk, voter.pk, 1)

        assert result["elapsed"] < 3.0, "casting a vote must not wait on a dead broker"
        assert Vote.objects.filter(pk=result["vote_id"], value=1).exists()
        assert PendingRefresh.objects.filter(author_id=post.author_id).exists()
        assert refreshed(post) is None

        redis_server.start()
        wait_for(lambda: refreshed(post), timeout=60)
        wait_for(lambda: not PendingRefresh.objects.filter(author_id=post.author_id).exists(), timeout=20)
    finally:
        stop_process(worker)


def test_a_vote_does_not_wait_on_a_hung_redis(redis_server, world, tmp_path):
    post, voter = world
    redis_server.pause(8)
    result = cast_vote_in_subprocess(redis_server.url, post.pk, voter.pk, 1)
    assert result["elapsed"] < 3.0
    assert Vote.objects.filter(voter=voter, post=post).exists()
    assert PendingRefresh.objects.filter(author_id=post.author_id).exists()


def test_a_refresh_whose_worker_process_is_killed_midway_still_happens(redis_server, world, tmp_path):
    post, voter = world
    marker = tmp_path / "started"
    worker = start_worker(
        redis_server.url, tmp_path / "worker.log", module="tests.slow_worker",
        SLOW_WORKER_MARKER=str(marker), SLOW_WORKER_DELAY="3",
    )
    try:
        cast_vote_in_subprocess(redis_server.url, post.pk, voter.pk, 1)
        wait_for(lambda: marker.exists(), timeout=30)
        child_pid = int(marker.read_text().split()[0])
        assert child_pid in [c.pid for c in psutil.Process(worker.pid).children(recursive=True)]
        os.kill(child_pid, signal.SIGKILL)  # the pool process dies mid-task (an OOM kill looks like this)

        # acks_late + reject_on_worker_lost: the task is requeued and run by a new pool process.
        wait_for(lambda: refreshed(post), timeout=60)
        assert len(marker.read_text().split()) >= 2
        wait_for(lambda: not PendingRefresh.objects.filter(author_id=post.author_id).exists(), timeout=20)
    finally:
        stop_process(worker)


def test_a_refresh_lost_with_its_whole_worker_is_redone_by_the_sweep(redis_server, world, tmp_path):
    post, voter = world
    marker = tmp_path / "started"
    worker = start_worker(
        redis_server.url, tmp_path / "worker.log", module="tests.slow_worker",
        SLOW_WORKER_MARKER=str(marker), SLOW_WORKER_DELAY="30",
    )
    try:
        cast_vote_in_subprocess(redis_server.url, post.pk, voter.pk, 1)
        wait_for(lambda: marker.exists(), timeout=30)
    finally:
        stop_process(worker)  # SIGKILL to the whole worker: the message stays unacked in Redis
    assert refreshed(post) is None

    replacement = start_worker(
        redis_server.url, tmp_path / "worker2.log", beat=True,
        REPUTATION_SWEEP_SECONDS="1", REPUTATION_SWEEP_AFTER_SECONDS="1",
    )
    try:
        wait_for(lambda: refreshed(post), timeout=60)
        wait_for(lambda: not PendingRefresh.objects.filter(author_id=post.author_id).exists(), timeout=20)
    finally:
        stop_process(replacement)


def test_a_worker_holding_countdown_refreshes_survives_a_broker_restart(redis_server, tmp_path):
    """Issue 9.1: Redis restarts while the worker holds unacknowledged countdown refreshes.

    Before the fix the worker logged "Restoring 4 unacknowledged message(s)" and exited with
    AttributeError("'NoneType' object has no attribute 'hostname'") (cause in config/celery.py). Now it
    must keep running, reconnect, and every refresh must complete without anyone's help. The held
    tasks die with the broker (this Redis restarts empty, as after SHUTDOWN NOSAVE or a crash without
    persistence), so the outbox sweep (beat, here embedded in the worker) re-queues them.
    """
    import time

    import redis

    started = time.monotonic()
    timeline: dict[str, float] = {}

    def mark(event: str) -> None:
        timeline.setdefault(event, round(time.monotonic() - started, 1))

    posts = [services.post_register(url=f"https://x.com/writer{i}/status/{900 + i}") for i in range(4)]
    voter = make_user("restarter", days_old=500)
    log = tmp_path / "worker.log"
    worker = start_worker(
        redis_server.url, log, beat=True,
        # The sweep must not re-queue before the fault (votes at ~t+3, Redis killed at ~t+5).
        REPUTATION_SWEEP_SECONDS="1", REPUTATION_SWEEP_AFTER_SECONDS="12",
    )
    broker = redis.Redis(port=redis_server.port, socket_timeout=2)

    def alive() -> bool:
        assert worker.poll() is None, f"worker exited ({worker.returncode}):\n{log.read_text()[-4000:]}"
        return True

    try:
        wait_for(lambda: "ready" in log.read_text(), timeout=30)
        mark("worker ready")
        cast_votes_in_subprocess(redis_server.url, [(p.pk, voter.pk, 1) for p in posts], REPUTATION_REFRESH_COUNTDOWN="8")
        # Countdown tasks are reserved at once and held until their ETA: unacknowledged in Redis.
        wait_for(lambda: broker.hlen("unacked") == len(posts), timeout=15)
        mark("4 refreshes reserved (unacked, ETA +8 s)")
        assert all(refreshed(p) is None for p in posts)

        redis_server.stop()  # SIGKILL; without persistence it comes back empty
        mark("redis down")
        time.sleep(3)
        alive()
        mark("worker alive while redis down")
        redis_server.start()  # same port
        mark("redis up")

        wait_for(lambda: alive() and log.read_text().count("Connected to") >= 2, timeout=30)
        mark("worker reconnected")
        wait_for(lambda: alive() and all(refreshed(p) for p in posts), timeout=40)
        mark("last refresh done")
        wait_for(lambda: not PendingRefresh.objects.filter(author_id__in=[p.author_id for p in posts]).exists(),
                 timeout=10)
        time.sleep(1)
        alive()
        mark("worker still alive, outbox empty")
        assert "Unrecoverable error" not in log.read_text()
    finally:
        print(f"\ntimeline (s since test start): {timeline}")
        stop_process(worker)
