"""Reads from replicas, writes to the primary (issue 12.5), against a real streaming replica.

The replica (tests/replica.py) is a second PostgreSQL cluster made by `pg_basebackup -R` from the test
database's server. Pausing its replay makes it lag on purpose: a row committed on the primary is then
missing there, which is how each test tells which database answered.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import Client
from django.urls import reverse

from config import db_router
from config.replica_middleware import PIN_COOKIE, read_alias
from reputation import bulk, data
from reputation import services as rep_services
from reputation.models import AuthorReputation
from tests.api_helpers import token_client
from tests.conftest import make_user
from tests.replica import StreamingReplica, database_alias
from votes import services as vote_services
from votes.models import Vote

REPLICA = "streaming_replica"
needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="streams from PostgreSQL: run with DATABASE_URL=postgres://... (CI does, under REQUIRE_SERVICES)",
)


@pytest.fixture(scope="session")
def streaming_replica(django_db_setup, django_db_blocker):
    """One replica for the session, copied after the test database exists (it streams from then on)."""
    with django_db_blocker.unblock():
        replica = StreamingReplica(connections[DEFAULT_DB_ALIAS].settings_dict)
        try:
            replica.start()
            with database_alias(REPLICA, HOST="127.0.0.1", PORT=replica.port):
                yield replica
        finally:
            replica.stop()


@pytest.fixture
def replica(streaming_replica, settings):
    """Reads routed to the replica for this test; replay running at the start and at the end."""
    settings.DATABASE_REPLICAS = [REPLICA]
    streaming_replica.wait_caught_up()
    yield streaming_replica
    if streaming_replica.dir is not None:
        streaming_replica.resume()
    _until_the_worker_is_idle()


def _until_the_worker_is_idle(timeout: float = 30.0):
    """In a full run the session's Celery worker thread may still run earlier tests' retries and refreshes;
    the transactional test's flush (TRUNCATE of every table) after this fixture then deadlocks with its
    transaction (seen once in CI). Wait for the task in hand to finish first (its timed retries may still
    start later: this narrows the window, it cannot close it)."""
    from celery.worker import state

    deadline = time.monotonic() + timeout
    while state.active_requests and time.monotonic() < deadline:
        time.sleep(0.05)


def _search(client, prefix: str) -> list[str]:
    response = client.get("/api/v1/authors/search", {"q": prefix, "platform": "x"})
    assert response.status_code == 200, response.content
    return [card["handle"] for card in response.json()["results"]]


# --- with a real replica ---------------------------------------------------------------------


@needs_postgres
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_public_api_reads_come_from_the_replica_and_lag_with_it(replica):
    vote_services.post_register(url="https://x.com/early_writer/status/1")
    replica.wait_caught_up()
    replica.pause()
    vote_services.post_register(url="https://x.com/late_writer/status/2")  # committed on the primary only

    anonymous = Client()
    assert _search(anonymous, "early_") == ["early_writer"]
    assert _search(anonymous, "late_") == []  # the replica answered: it has not replayed the insert

    pinned = Client()
    pinned.cookies[PIN_COOKIE] = "1"  # a browser that wrote a moment ago reads the primary
    assert _search(pinned, "late_") == ["late_writer"]

    replica.resume()
    assert _search(anonymous, "late_") == ["late_writer"]


@needs_postgres
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_an_api_voter_reads_their_vote_back_while_the_replica_lags(replica):
    voter = make_user("voter")
    api, _ = token_client(voter)
    replica.wait_caught_up()
    replica.pause()  # the token, the user and everything below exist on the primary only from here on

    cast = api.post("/api/v1/votes", {"url": "https://x.com/writer/status/7", "value": 1}, format="json")

    assert cast.status_code == 201, cast.content
    mine = api.get("/api/v1/votes")  # the caller's own page: always the primary
    assert [v["value"] for v in mine.json()["results"]] == [1]
    assert api.get("/api/v1/posts/x/7").json()["my_vote"] == 1
    # A public read by the voter, just after the write: pinned to the primary by its Authorization header.
    assert api.get("/api/v1/authors/x/writer").status_code == 200
    # Anyone else may lag: for the replica the author does not exist yet.
    assert _search(Client(), "writer") == []

    replica.resume()
    assert _search(Client(), "writer") == ["writer"]


@needs_postgres
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_a_site_voter_sees_their_vote_while_anonymous_pages_lag(replica):
    voter = make_user("voter")
    replica.wait_caught_up()
    replica.pause()
    post = vote_services.post_register(url="https://x.com/writer/status/8")  # on the primary only
    browser = Client()
    browser.force_login(voter)  # a session the replica does not have: who you are is read from the primary

    voted = browser.post(reverse("vote", args=[post.pk]), {"value": "1"}, HTTP_HX_REQUEST="true")

    assert voted.status_code == 200 and Vote.objects.filter(voter=voter, post=post).exists()
    cookie = voted.cookies[PIN_COOKIE]  # the browser reads the primary for the next REPLICA_PIN_SECONDS
    assert int(cookie["max-age"]) == 10 and cookie["httponly"]
    assert browser.get(reverse("post", args=[post.pk])).context["post"].my_vote.value == 1
    del browser.cookies[PIN_COOKIE]
    page = browser.get(reverse("my-votes"))  # the voter's own page reads the primary, pin or not
    assert page.status_code == 200 and "@writer" in page.content.decode()
    # An anonymous visitor reads the replica, which does not have the post yet.
    assert Client().get(reverse("post", args=[post.pk])).status_code == 404

    replica.resume()
    assert Client().get(reverse("post", args=[post.pk])).status_code == 200


def _world(n_voters: int = 6) -> list:
    posts = [vote_services.post_register(url=f"https://x.com/w{a}/status/{a}") for a in range(3)]  # up, up, down
    for i in range(n_voters):
        voter = make_user(f"v{i}", days_old=300)
        for p, value in zip(posts, (1, 1, -1)):
            vote_services.vote_cast(voter=voter, post=p, value=value, reason="" if value > 0 else "spam")
    return posts


def _servers_reading_votes(monkeypatch) -> list[int]:
    """The port of the server each COPY of the votes table runs on (COPY bypasses Django's cursor wrappers).

    This thread's only: in a full run a Celery worker thread may be refreshing authors meanwhile.
    """
    ports: list[int] = []
    copy_out = bulk.copy_out
    here = threading.get_ident()

    def spy(cursor, query, kinds, params=None):
        if "FROM votes_vote v" in query and threading.get_ident() == here:
            ports.append(int(cursor.connection.info.port))
        return copy_out(cursor, query, kinds, params)

    monkeypatch.setattr(bulk, "copy_out", spy)
    return ports


@needs_postgres
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_the_full_refit_reads_its_votes_from_the_replica(replica, monkeypatch):
    _world()
    ports = _servers_reading_votes(monkeypatch)

    result = rep_services.recompute_all()

    assert result["votes"] == 18 and AuthorReputation.objects.count() == 3  # results written to the primary
    assert ports == [replica.port]
    # The refresh after a vote reads that author's votes from the primary, which has the vote.
    rep_services.author_refresh(author_id=Vote.objects.first().author_id)
    assert ports == [replica.port, int(connection.settings_dict["PORT"] or 5432)]


@needs_postgres
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_the_large_refits_two_streams_read_the_replica_too(replica, monkeypatch):
    _world()
    serial = data.load_votes()
    monkeypatch.setattr(data, "PARALLEL_MIN_VOTES", -1)  # the two-connection path, at test size
    opened = []
    real = data.new_connection
    here = threading.get_ident()  # not a Celery worker thread's refresh in a full run
    monkeypatch.setattr(data, "new_connection",
                        lambda db=connection: (threading.get_ident() == here and opened.append(db.alias)) or real(db))

    parallel = data.load_votes()

    assert opened == [REPLICA, REPLICA]  # an exported snapshot shared by two sessions of the standby
    assert sorted(zip(parallel.voter.tolist(), parallel.post.tolist())) == sorted(
        zip(serial.voter.tolist(), serial.post.tolist())
    )


@needs_postgres
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_a_lagging_replica_leaves_the_refit_and_the_refresh_on_the_primary(replica, settings, monkeypatch):
    posts = _world()
    replica.wait_caught_up()
    replica.pause()
    late = make_user("late", days_old=300)
    vote_services.vote_cast(voter=late, post=posts[1], value=1)  # the replica will not have it
    settings.REPLICA_REFIT_MAX_WAIT_SECONDS = 0.3

    # The refit waits for the replica to replay the primary's position, then reads the primary instead:
    # what it reads must include every vote committed before it started.
    ports = _servers_reading_votes(monkeypatch)
    assert rep_services.recompute_all()["votes"] == 19
    assert ports == [int(connection.settings_dict["PORT"] or 5432)]

    # The refresh after a vote reads the primary whatever the replica says.
    vote_services.vote_cast(voter=make_user("later", days_old=300), post=posts[1], value=1)
    rep_services.author_refresh(author_id=posts[1].author_id)
    assert AuthorReputation.objects.get(author_id=posts[1].author_id).upvotes == 8


# --- without one -----------------------------------------------------------------------------


def test_without_a_replica_the_router_reads_and_writes_the_primary(settings):
    settings.DATABASE_REPLICAS = []
    router = db_router.PrimaryReplicaRouter()
    assert db_router.replicas() == []
    assert router.db_for_read(Vote) == router.db_for_write(Vote) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "votes") is True


def test_a_replica_that_mirrors_the_test_database_is_not_used(settings):
    """Under `DATABASE_REPLICA_URL=... make test` each replica mirrors the test database: reads stay on it."""
    with database_alias("mirror", **{k: connection.settings_dict[k] for k in ("HOST", "PORT", "NAME")}):
        settings.DATABASE_REPLICAS = ["mirror"]
        assert db_router.replicas() == []


def test_migrations_and_writes_never_go_to_a_replica():
    router = db_router.PrimaryReplicaRouter()
    assert router.allow_migrate("replica_1", "votes", model_name="vote") is False
    token = db_router.begin_request("replica_1")  # as the middleware does for a routed request
    try:
        reads = [router.db_for_read(Vote), router.db_for_read(Vote._meta.get_field("voter").related_model)]
        writes = router.db_for_write(Vote)
        seen = db_router.watch_writes(lambda *a: "ran", "SELECT 1", None, False, {})
        reads.append(router.db_for_read(Vote))
        db_router.watch_writes(lambda *a: "ran", 'INSERT INTO "votes_vote" ...', None, False, {})
        reads.append(router.db_for_read(Vote))
    finally:
        routing = db_router.end_request(token)
    assert writes == DEFAULT_DB_ALIAS and seen == "ran"
    # auth.User (who you are) always reads the primary; a write moves the rest of the request there.
    assert reads == ["replica_1", DEFAULT_DB_ALIAS, "replica_1", DEFAULT_DB_ALIAS] and routing.wrote


def test_an_unreachable_replica_sends_reads_to_the_primary(settings, rf, django_db_blocker):
    closed = StreamingReplica(connection.settings_dict).port  # a free port: nothing listens there
    with database_alias("dead", ENGINE="django.db.backends.postgresql", HOST="127.0.0.1", PORT=closed,
                        NAME="merit", USER="postgres", OPTIONS={"connect_timeout": 2}), django_db_blocker.unblock():
        settings.DATABASE_REPLICAS = ["dead"]
        db_router._down_until.clear()

        assert read_alias(rf.get("/a/x/writer/")) == DEFAULT_DB_ALIAS

        assert db_router._down_until["dead"] > time.monotonic()  # left out for REPLICA_RETRY_SECONDS:
        assert db_router.healthy_replica() is None  # not even tried again meanwhile
        db_router._down_until.clear()


@pytest.mark.django_db
def test_with_replicas_a_changed_card_is_dropped_again_once_they_have_caught_up(settings, monkeypatch):
    """A reader on a replica that has not replayed a change yet may refill the shared cache with the old
    card just after it was dropped; so it is dropped once more after REPLICA_PIN_SECONDS."""
    from django.core.cache import cache

    from api import services as api_services
    from api import tasks
    from tests.api_helpers import make_author

    author = make_author("lagged")
    scheduled = []
    for name in ("forget_cards_again", "forget_post_cards_again"):
        monkeypatch.setattr(getattr(tasks, name), "apply_async",
                            lambda kwargs, countdown, name=name: scheduled.append((name, kwargs, countdown)))

    settings.DATABASE_REPLICAS = []
    api_services.cards_forget(author_ids=[author.pk])
    assert scheduled == []  # no replicas: once is enough

    settings.DATABASE_REPLICAS, settings.REPLICA_PIN_SECONDS = ["replica_0"], 7
    api_services.cards_forget(author_ids=[author.pk])
    api_services.post_cards_forget(posts=[("x", "123")])
    assert scheduled == [("forget_cards_again", {"author_ids": [author.pk]}, 7),
                         ("forget_post_cards_again", {"posts": [["x", "123"]]}, 7)]

    key = api_services._card_key("x", "lagged")
    cache.set(key, "the old card, refilled from a lagging replica")
    tasks.forget_cards_again(author_ids=[author.pk])  # the second drop, as the worker runs it
    assert cache.get(key) is None and len(scheduled) == 2  # and it schedules no third
