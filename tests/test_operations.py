"""Running like a service: the refit lock, the outbox's backoff and cap, O(1) card invalidation,
expiring tokens and sessions, and the admin's pages."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from api import services as api_services
from reputation import locks, tasks
from reputation import services as rep_services
from reputation.models import AuthorReputation, PendingRefresh, VoterCredibility
from votes.models import Vote

from .api_helpers import clear_local_cards, make_author, token_client  # noqa: F401
from .conftest import make_user

pytestmark = pytest.mark.django_db


# --- the refit lock ---

@pytest.mark.redis
def test_the_refit_lock_is_redis_own_lock_and_an_expired_holder_cannot_release_the_next_one():
    client = locks._redis()
    assert client is not None
    with locks.exclusive("test-refit", timeout=0.5) as held:
        assert held
        time.sleep(0.7)  # this holder outlived its lock's timeout...
        successor = client.lock("lock:test-refit", timeout=30, blocking=False)
        assert successor.acquire()  # ...and another process took it
    # Leaving the first holder's block must not have dropped the successor's lock.
    assert client.get("lock:test-refit") == successor.local.token
    successor.release()


@pytest.mark.redis
def test_a_refit_while_another_process_holds_the_redis_lock_is_dropped(monkeypatch):
    ran = []
    monkeypatch.setattr(rep_services, "recompute_all", lambda: ran.append(1) or {"authors": 0})
    other = locks._redis().lock("lock:recompute_all", timeout=30, blocking=False)
    assert other.acquire()
    try:
        assert tasks.recompute_all() is None and ran == []
    finally:
        other.release()
    assert tasks.recompute_all() == {"authors": 0} and ran == [1]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL advisory locks")
def test_without_redis_the_refit_lock_is_a_postgresql_advisory_lock(monkeypatch):
    from reputation.data import new_connection

    monkeypatch.setattr(locks, "_redis", lambda: None)
    ran = []
    monkeypatch.setattr(rep_services, "recompute_all", lambda: ran.append(1) or {"authors": 0})
    other = new_connection()  # another process's session
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [locks.advisory_key("recompute_all")])
            assert cur.fetchone()[0]
            assert tasks.recompute_all() is None and ran == []
            cur.execute("SELECT pg_advisory_unlock(%s)", [locks.advisory_key("recompute_all")])
        assert tasks.recompute_all() == {"authors": 0} and ran == [1]
        with locks.exclusive("recompute_all", timeout=60) as held, other.cursor() as cur:
            assert held
            # Held by this session: another session can neither take it nor release it.
            cur.execute("SELECT pg_try_advisory_lock(%s)", [locks.advisory_key("recompute_all")])
            assert cur.fetchone()[0] is False
    finally:
        other.close()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite development fallback")
def test_without_redis_on_sqlite_the_refit_lock_is_a_file_lock(monkeypatch):
    monkeypatch.setattr(locks, "_redis", lambda: None)
    with locks.exclusive("recompute_all", timeout=60) as first, locks.exclusive("recompute_all", timeout=60) as second:
        assert first and not second
    with locks.exclusive("recompute_all", timeout=60) as again:
        assert again


# --- the outbox ---

def _pending(author, *, attempts: int, age: float) -> None:
    PendingRefresh.objects.create(author=author, attempts=attempts, marked_at=timezone.now() - timedelta(seconds=age))


@override_settings(REPUTATION_SWEEP_AFTER_SECONDS=60, REPUTATION_OUTBOX_MAX_ATTEMPTS=4, REPUTATION_SWEEP_MAX_BACKOFF=400)
def test_the_sweep_backs_off_per_attempt_and_gives_up_after_the_cap(monkeypatch):
    queued = []
    monkeypatch.setattr(rep_services, "refresh_enqueue", lambda author_id, countdown=None: queued.append(author_id))
    fresh, first_due, second_early, second_due, capped_wait, stuck = (make_author(f"a{i}") for i in range(6))
    _pending(fresh, attempts=0, age=30)  # not yet presumed lost
    _pending(first_due, attempts=0, age=61)  # first sweep after 60 s
    _pending(second_early, attempts=1, age=100)  # second sweep waits 120 s
    _pending(second_due, attempts=1, age=121)
    _pending(capped_wait, attempts=3, age=401)  # 60 * 2**3 = 480 s, capped at 400 s
    _pending(stuck, attempts=4, age=99999)  # the cap: never again

    assert rep_services.sweep_pending() == 3
    assert sorted(queued) == sorted([first_due.pk, second_due.pk, capped_wait.pk])
    assert PendingRefresh.objects.get(author=first_due).attempts == 1
    assert rep_services.outbox_stuck_count() == 2  # the old stuck row, and capped_wait's last try

    queued.clear()
    assert rep_services.sweep_pending() == 0 and queued == []  # swept rows wait again, longer


# --- O(1) invalidation of every cached card ---

def test_a_full_refit_invalidates_every_cached_card_in_constant_time(monkeypatch):
    authors = [make_author(f"writer{i}", score=60.0) for i in range(40)]
    handles = ",".join(a.handle for a in authors)
    client = APIClient()
    assert client.get("/api/v1/authors", {"handles": handles}).status_code == 200  # all cached
    AuthorReputation.objects.update(score=30.0)  # as a refit would, before it announces the change
    calls = []
    for name in ("delete", "delete_many", "set", "incr"):
        real = getattr(cache, name)
        monkeypatch.setattr(cache, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))

    with CaptureQueriesContext(connection) as queries:
        api_services.cards_forget(author_ids=None)

    assert len(queries.captured_queries) == 0 and calls == ["incr"]  # one cache write, whatever the author count
    results = client.get("/api/v1/authors", {"handles": handles}).json()["results"]
    assert {card["score"] for card in results.values()} == {30.0}


def test_cards_of_one_refreshed_author_are_still_dropped_by_key():
    make_author("writer", score=60.0)
    client = APIClient()
    assert client.get("/api/v1/authors/x/writer").json()["score"] == 60.0
    AuthorReputation.objects.update(score=40.0)
    api_services.cards_forget(author_ids=[AuthorReputation.objects.get().author_id])
    api_services.local_cards.clear()  # as another process would see it, past its local copies
    assert client.get("/api/v1/authors/x/writer").json()["score"] == 40.0


# --- expiring tokens and sessions ---

def test_a_device_token_expires_unless_used_and_each_use_pushes_its_expiry_on(alice):
    client, token = token_client(alice)
    auth_token = AuthToken.objects.get(user=alice)
    assert auth_token.expiry is not None and auth_token.expiry > timezone.now() + timedelta(days=29)

    AuthToken.objects.filter(pk=auth_token.pk).update(expiry=timezone.now() + timedelta(days=1))
    assert client.get("/api/v1/votes").status_code == 200
    assert AuthToken.objects.get(pk=auth_token.pk).expiry > timezone.now() + timedelta(days=29)  # refreshed on use

    AuthToken.objects.filter(pk=auth_token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    cache.clear()  # past the verified-token memo
    assert client.get("/api/v1/votes").status_code == 401
    assert not AuthToken.objects.filter(pk=auth_token.pk).exists()


def test_the_daily_prune_deletes_expired_sessions_and_tokens(alice, bob):
    token_client(alice)
    token_client(bob)
    AuthToken.objects.filter(user=bob).update(expiry=timezone.now() - timedelta(minutes=1))
    live, dead = SessionStore(), SessionStore()
    live.create()
    dead.set_expiry(-1)
    dead.create()
    Session.objects.filter(session_key=dead.session_key).update(expire_date=timezone.now() - timedelta(days=1))

    assert api_services.logins_prune() == {"tokens": 1}
    assert list(AuthToken.objects.values_list("user__username", flat=True)) == ["alice"]
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]


def test_the_prune_and_the_sweep_are_on_the_beat_schedule():
    from django.conf import settings

    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"api.prune_expired_logins", "reputation.sweep_pending_refreshes"} <= tasks_scheduled


# --- the admin ---

@pytest.fixture
def admin_client(db):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "correct-horse-battery")
    client = Client()
    client.force_login(root)
    return client


def test_every_domain_model_has_an_admin_whose_pages_render(admin_client, alice, bob, post):
    from django.contrib import admin
    from django.urls import reverse

    from votes import services as vote_services

    vote_services.vote_cast(voter=alice, post=post, value=1)
    rep_services.recompute_all()
    make_author("flagged", status="under_review")
    PendingRefresh.objects.update_or_create(author=post.author, defaults={"marked_at": timezone.now(), "attempts": 9})
    from rest_framework_api_key.models import APIKey

    from api.models import Webhook, WebhookDelivery

    webhook = Webhook.objects.create(api_key=APIKey.objects.create_key(name="acme")[0], url="https://example.com/h",
                                     secret="s")
    WebhookDelivery.objects.create(webhook=webhook, event="authors.changed", payload={}, next_attempt_at=timezone.now())
    ours = [m for m in admin.site._registry if m._meta.app_label in ("votes", "reputation", "api")]
    labels = {m._meta.label for m in ours}
    assert {"votes.Author", "votes.Post", "votes.Vote", "votes.VoteEvent", "reputation.AuthorReputation",
            "reputation.VoterCredibility", "reputation.PendingRefresh", "reputation.AuthorUnderReview",
            "reputation.DetectedGroup", "api.DeviceToken", "api.Webhook", "api.WebhookDelivery"} <= labels
    for model, model_admin in admin.site._registry.items():
        if model not in ours:
            continue
        info = model._meta.app_label, model._meta.model_name
        response = admin_client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert response.status_code == 200, model
        obj = model_admin.get_queryset(response.wsgi_request).first()
        if obj is not None and model._meta.model_name != "detectedgroup":
            assert admin_client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk])).status_code == 200, model
    stuck = admin_client.get(reverse("admin:reputation_pendingrefresh_changelist"), {"state": "stuck"})
    assert stuck.status_code == 200 and stuck.context["cl"].result_count == 1


def test_the_moderation_pages_show_detected_groups_and_authors_under_review(admin_client):
    from django.urls import reverse

    from reputation.engine.types import GROUP_ID_STRIDE
    from votes import services as vote_services

    post = vote_services.post_register(url="https://x.com/target/status/5")
    group = 3 * GROUP_ID_STRIDE + 7
    for i in range(3):
        voter = make_user(f"ring{i}")
        vote_services.vote_cast(voter=voter, post=post, value=1)
        VoterCredibility.objects.create(voter=voter, credibility=0.2, flags={"group": group, "side": 0})
    VoterCredibility.objects.create(voter=make_user("loner"), credibility=0.9, flags={"group": -1})
    make_author("suspect", status="under_review",
                explanation={"coordinated_discount": {"share_of_votes": 0.62}, "unproven_pool": {"held_back": 1.5}})
    make_author("fine", status="established")

    groups = admin_client.get(reverse("admin:reputation_detectedgroup_changelist"))
    assert groups.status_code == 200
    [row] = groups.context["groups"]
    assert row["group_id"] == group and row["members"] == 3 and row["size"] == 3
    assert [a["author__handle"] for a in row["authors"]] == ["target"] and row["authors"][0]["votes"] == 3
    assert b"@target" in groups.content
    members = admin_client.get(row["members_url"])
    assert members.status_code == 200 and members.context["cl"].result_count == 3

    review = admin_client.get(reverse("admin:reputation_authorunderreview_changelist"))
    assert review.status_code == 200
    assert [r.author.handle for r in review.context["cl"].result_list] == ["suspect"]
    assert b"0.62" in review.content
    assert Vote.objects.count() == 3
