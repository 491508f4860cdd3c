"""What the operator sees: /healthz, /readyz, /metrics (allowlisted, with the outbox and refit gauges),
JSON logs with the request id carried into Celery tasks, and optional Sentry reporting."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import time_machine
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from reputation import services as rep_services
from reputation import tasks as rep_tasks
from reputation.models import PendingRefresh
from tests.conftest import make_user, wait_for
from tests.faults import ROOT, PrivateRedis, service_env, start_worker, stop_process
from votes import services as vote_services

pytestmark = pytest.mark.django_db


def scrape(client: Client | None = None) -> dict[tuple[str, tuple], float]:
    response = (client or Client()).get("/metrics")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# --- /healthz and /readyz ---

def test_healthz_answers_without_touching_any_service(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)  # the checks run on other threads, which see committed rows only
def test_readyz_checks_what_is_configured_and_a_stuck_outbox_makes_it_503():
    ready = Client().get("/readyz")
    assert ready.status_code == 200, ready.content
    checks = ready.json()
    assert set(checks.values()) == {"OK"}
    assert any(name.startswith("Database") for name in checks) and any(name.startswith("Cache") for name in checks)
    broker = "Redis" if settings.CELERY_BROKER_URL.startswith("redis") else "BrokerFolder"
    assert any(name.startswith(broker) for name in checks) and "Outbox()" in checks

    post = vote_services.post_register(url="https://x.com/writer/status/1")
    PendingRefresh.objects.create(author=post.author, marked_at=timezone.now(),
                                  attempts=settings.REPUTATION_OUTBOX_MAX_ATTEMPTS)
    stuck = Client().get("/readyz")
    assert stuck.status_code == 503
    assert stuck.json()["Outbox()"] == "Unavailable: 1 author refreshes stuck in the outbox"


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_readyz_answers_503_while_redis_is_down_and_200_once_it_is_back(tmp_path):
    redis = PrivateRedis(tmp_path)  # never the shared Redis: this one is stopped
    redis.start()
    cache = {"default": {**settings.CACHES["default"], "BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis.url}}
    cache["default"].setdefault("OPTIONS", {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1, "IGNORE_EXCEPTIONS": True})
    try:
        with override_settings(CACHES=cache, CELERY_BROKER_URL=redis.url):
            assert Client().get("/readyz").status_code == 200
            redis.stop()
            down = Client().get("/readyz")
            assert down.status_code == 503
            failing = sorted(name for name, result in down.json().items() if result != "OK")
            assert failing == ["Cache(alias='default')", f"Redis(db=0, host='127.0.0.1', port={redis.port})"], down.json()
            redis.start()
            assert Client().get("/readyz").status_code == 200
    finally:
        redis.stop()


# --- /metrics ---

def test_metrics_answer_loopback_and_the_allowed_addresses_only():
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    with override_settings(METRICS_ALLOWED_IPS=["203.0.113.0/24", "198.51.100.4"]):
        assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 200
        assert Client(REMOTE_ADDR="198.51.100.4").get("/metrics").status_code == 200
        assert Client(REMOTE_ADDR="198.51.100.5").get("/metrics").status_code == 403
    # Behind a local proxy the proxy's loopback address does not open them to everyone.
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}):
        assert Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9").get("/metrics").status_code == 403
        assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200


def test_a_vote_burst_moves_the_outbox_gauges_and_a_refit_sets_its_own():
    authors = [vote_services.post_register(url=f"https://x.com/writer{i}/status/{100 + i}") for i in range(3)]
    voters = [make_user(f"voter{i}") for i in range(8)]
    before = scrape()
    assert value(before, "merit_outbox_pending_authors") == 0
    assert value(before, "merit_outbox_oldest_seconds") == 0
    assert value(before, "django_http_requests_total_by_method_total", method="GET") is not None  # django-prometheus

    with time_machine.travel(timezone.now(), tick=False) as clock:
        for voter in voters:  # a burst: 24 votes on 3 authors, coalescing into 3 outbox rows
            for post in authors:
                vote_services.vote_cast(voter=voter, post=post, value=1)
        clock.shift(42)
        during = scrape()
    assert value(during, "merit_outbox_pending_authors") == 3
    assert value(during, "merit_outbox_oldest_seconds") == pytest.approx(42, abs=1)
    assert value(during, "merit_outbox_stuck_authors") == 0

    for post in authors:
        rep_services.author_refresh(author_id=post.author_id)
    rep_tasks.recompute_all.apply()  # as the worker runs it: the worker times it
    after = scrape()
    assert value(after, "merit_outbox_pending_authors") == 0
    assert 0 <= value(after, "merit_last_refit_age_seconds") < 60
    assert value(after, "merit_refit_duration_seconds") > 0


def test_throttled_requests_and_cache_hits_are_counted(alice):
    def counted(samples, name, **labels):
        return value(samples, name, **labels) or 0

    before = scrape()
    for i in range(5):  # the fifth failure locks this address out
        Client(REMOTE_ADDR="198.51.100.7").post("/login/", {"username": f"user{i}", "password": "guess"})
    with override_settings(SIGNUP_RATE_PER_ADDRESS="1/h"):
        for name in ("first", "second"):
            Client(REMOTE_ADDR="198.51.100.8").post("/signup/", {"username": name})
    vote_services.post_register(url="https://x.com/cached/status/1")
    for _ in range(2):  # a miss fills the cards, the second read is a hit in this process
        assert Client().get("/api/v1/authors", {"handles": "cached"}).status_code == 200
    after = scrape()

    assert counted(after, "merit_throttled_requests_total", scope="login") == counted(before, "merit_throttled_requests_total", scope="login") + 1
    assert counted(after, "merit_throttled_requests_total", scope="signup") == counted(before, "merit_throttled_requests_total", scope="signup") + 1
    assert counted(after, "merit_cache_misses_total", cache="author_card") >= counted(before, "merit_cache_misses_total", cache="author_card") + 1
    assert counted(after, "merit_cache_hits_total", cache="author_card_local") >= counted(before, "merit_cache_hits_total", cache="author_card_local") + 1


def test_api_throttling_is_counted_by_scope():
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "2/min"}}
    before = value(scrape(), "merit_throttled_requests_total", scope="anon") or 0
    with override_settings(REST_FRAMEWORK=rest):
        codes = [Client(REMOTE_ADDR="198.51.100.9").get("/api/v1/authors", {"handles": "x"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert value(scrape(), "merit_throttled_requests_total", scope="anon") == before + 1


# --- logs ---

def test_json_log_lines_carry_the_request_id():
    import logging

    from api.middleware import RequestIdFilter
    from config.ops.logs import JsonFormatter

    lines = []
    handler = logging.Handler()  # configured like settings.LOGGING's console handler with LOG_FORMAT=json
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.emit = lambda record: lines.append(handler.format(record))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        Client().get("/api/v1/no/such/thing", HTTP_X_REQUEST_ID="trace-json-1")
    finally:
        logger.removeHandler(handler)
    record = json.loads(lines[-1])
    assert record["request_id"] == "trace-json-1" and record["level"] == "WARNING"
    assert record["logger"] == "django.request" and record["message"].startswith("Not Found")
    assert "request" not in record  # the request object itself is not dumped


DRIVE_A_VOTE = """
import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
from django.contrib.auth import get_user_model
setup_test_environment()
client = Client(HTTP_X_REQUEST_ID=sys.argv[1])
client.force_login(get_user_model().objects.get(pk=int(sys.argv[2])))
response = client.post(f"/vote/{sys.argv[3]}/", {"value": "1"})
assert response.status_code in (200, 302), response.status_code
"""


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_task_queued_by_a_request_logs_with_that_request_id_in_the_worker(tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    post = vote_services.post_register(url="https://x.com/traced/status/5")
    voter = make_user("tracer", days_old=400)
    log = tmp_path / "worker.log"
    worker = start_worker(redis.url, log, LOG_FORMAT="json")
    try:
        wait_for(lambda: "ready" in log.read_text(), timeout=30)
        # A real request through the middleware, in its own process, publishing to this Redis.
        subprocess.run([sys.executable, "-c", DRIVE_A_VOTE, "trace-celery-7", str(voter.pk), str(post.pk)],
                       cwd=ROOT, env=service_env(redis.url), check=True, timeout=60)

        def task_lines():
            records = []
            for line in log.read_text().splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue  # the worker's start-up banner is printed, not logged
            return [r for r in records if r.get("task_name") == "reputation.refresh_author" and "succeeded" in r["message"]]

        done = wait_for(task_lines, timeout=30)
        assert done[0]["request_id"] == "trace-celery-7", done
        assert done[0]["task_id"] and done[0]["level"] == "INFO"
    finally:
        stop_process(worker)
        redis.stop()


# --- Sentry ---

def test_errors_go_to_sentry_with_the_request_id_when_a_dsn_is_set(monkeypatch):
    import sentry_sdk

    from api import views
    from config.ops import sentry

    class Captured(sentry_sdk.transport.Transport):  # instead of sending anywhere
        envelopes: list = []

        def capture_envelope(self, envelope):
            self.envelopes.append(envelope)

    sentry.init("https://public@sentry.invalid/1", environment="test", transport=Captured)
    try:
        monkeypatch.setattr(views.services, "batch_json", lambda *a, **k: 1 / 0)
        response = Client(raise_request_exception=False).get(
            "/api/v1/authors", {"handles": "a"}, HTTP_X_REQUEST_ID="trace-sentry-3"
        )
        assert response.status_code == 500
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()  # no DSN: reporting off again for the rest of the run
    events = [envelope.get_event() for envelope in Captured.envelopes]
    errors = [e for e in events if e and e.get("exception")]
    assert errors and errors[0]["exception"]["values"][-1]["type"] == "ZeroDivisionError"
    assert errors[0]["tags"]["request_id"] == "trace-sentry-3"
    assert "user" not in errors[0] or "ip_address" not in errors[0]["user"]  # no personal data
