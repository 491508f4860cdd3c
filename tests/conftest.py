"""Shared fixtures: personas, posts, and a real Celery worker thread."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone

from votes import services as vote_services

User = get_user_model()


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield


@pytest.fixture(scope="session")
def broker_is_reachable():
    """With REDIS_URL set, Redis must answer: a missing service fails the run, never skips it."""
    if settings.REDIS_URL:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
        except Exception as exc:  # noqa: BLE001 - whatever the reason, the run must fail, not skip
            pytest.fail(f"REDIS_URL={settings.REDIS_URL} is set but Redis is unreachable: {exc}")
    return True


@pytest.fixture(scope="session")
def celery_worker_thread(broker_is_reachable, django_db_setup, django_db_blocker):
    """A real worker (solo pool, in a thread) consuming the real broker: not eager mode."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.control.purge() if settings.REDIS_URL else _purge_filesystem_broker()
    with (
        django_db_blocker.unblock(),
        start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker,
    ):
        yield worker


def _purge_filesystem_broker():
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
    if folder:
        from pathlib import Path

        for msg in Path(folder).glob("*.msg"):
            msg.unlink(missing_ok=True)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll until predicate() is truthy; return its value or fail with the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")


def make_user(username: str, *, days_old: float = 365, password: str = "correct-horse-battery") -> User:
    user = User.objects.create_user(username=username, password=password)
    User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - timezone.timedelta(days=days_old))
    user.refresh_from_db()
    return user


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def post(db):
    return vote_services.post_register(url="https://x.com/writer/status/1790000000000000001")


_not_run: list[str] = []


def pytest_collection_modifyitems(config, items):
    """Without REDIS_URL (the no-services default), Redis fault tests are left out, loudly."""
    import os

    if os.environ.get("REQUIRE_SERVICES") and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        # Else the PostgreSQL-only paths (COPY write-back) would quietly take their SQLite fallbacks.
        raise pytest.UsageError("REQUIRE_SERVICES is set but DATABASE_URL is not PostgreSQL: CI must run every test.")
    if settings.REDIS_URL:
        return
    if os.environ.get("REQUIRE_SERVICES"):
        raise pytest.UsageError("REQUIRE_SERVICES is set but REDIS_URL is not: CI must run every test.")
    needs_redis = [item for item in items if item.get_closest_marker("redis")]
    if needs_redis:
        _not_run.extend(item.nodeid for item in needs_redis)
        config.hook.pytest_deselected(items=needs_redis)
        items[:] = [item for item in items if not item.get_closest_marker("redis")]


def pytest_terminal_summary(terminalreporter):
    if _not_run:
        terminalreporter.write_line(
            f"NOTE: {len(_not_run)} Redis fault-injection tests were not run because REDIS_URL is not set. "
            "Run `REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgres://... make test` (as CI does) to include them.",
            yellow=True,
            bold=True,
        )
