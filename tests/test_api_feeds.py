"""Building on the API: the change feed, Link headers, a leaderboard cursor that survives refits, CORS."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from reputation import changes, leaderboard
from reputation import services as rep_services
from reputation.models import AuthorReputation

from .api_helpers import assert_problem, clear_local_cards, key_client, make_author, token_client  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return APIClient()


def _handles(body) -> list[str]:
    return [item["author"]["handle"] for item in body["results"]]


def _rescore(handle: str, score: float) -> None:
    AuthorReputation.objects.filter(author__handle=handle).update(score=score, low=score - 10, high=score + 10)


# --- the change feed ---

def test_the_change_feed_lists_changed_authors_in_order_and_resumes_from_a_cursor(client):
    for handle in ("ann", "ben", "cat"):
        make_author(handle)
    changes.changes_record()

    first = client.get("/api/v1/authors/changes", {"limit": 2}).json()
    assert _handles(first) == ["ann", "ben"] and first["next"] is not None
    assert first["results"][0]["author"]["score"] == 72.3 and first["results"][0]["changed_at"]
    rest = client.get(first["next"]).json()
    assert _handles(rest) == ["cat"] and rest["next"] is None
    stored = rest["cursor"]
    assert client.get("/api/v1/authors/changes", {"since": stored}).json() == {
        "results": [], "cursor": stored, "next": None,
    }  # caught up

    _rescore("ann", 40.0)
    _rescore("cat", 72.34001)  # rewritten, but the card shows the same figures: no change
    changes.changes_record()
    later = client.get("/api/v1/authors/changes", {"since": stored}).json()
    assert _handles(later) == ["ann"] and later["results"][0]["author"]["score"] == 40.0
    # From the start, each author appears once, at its latest change.
    assert _handles(client.get("/api/v1/authors/changes").json()) == ["ben", "cat", "ann"]


def test_refreshes_and_refits_feed_the_change_feed(client, alice, post, django_capture_on_commit_callbacks):
    from votes import services as vote_services

    vote_services.vote_cast(voter=alice, post=post, value=1)
    rep_services.author_refresh(author_id=post.author_id)
    first = client.get("/api/v1/authors/changes").json()
    assert _handles(first) == ["writer"] and first["results"][0]["author"]["votes"] == 1

    vote_services.vote_cast(voter=alice, post=post, value=-1, reason="spam")
    rep_services.recompute_all()
    after = client.get("/api/v1/authors/changes", {"since": first["cursor"]}).json()
    assert _handles(after) == ["writer"] and after["results"][0]["author"]["downvotes"] == 1
    assert int(after["cursor"]) > int(first["cursor"])


def test_the_change_feed_refuses_a_malformed_cursor(client):
    assert_problem(client.get("/api/v1/authors/changes", {"since": "abc"}), 400)
    assert_problem(client.get("/api/v1/authors/changes", {"limit": 0}), 400)


# --- Link headers ---

def test_paged_lists_carry_link_headers(client, alice):
    for i in range(3):
        make_author(f"alpha{i}", score=50 + i)
    changes.changes_record()
    for path in ("/api/v1/authors/search?q=alpha&limit=2", "/api/v1/leaderboard?limit=2",
                 "/api/v1/authors/changes?limit=2"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Link"] == f'<{response.json()["next"]}>; rel="next"', path
        second = client.get(response.json()["next"])
        if "previous" in second.json():
            assert f'<{second.json()["previous"]}>; rel="prev"' in second["Link"], path
    last = client.get("/api/v1/authors/search", {"q": "alpha", "limit": 3})
    assert "Link" not in last  # one page: no neighbours


# --- the leaderboard cursor ---

def test_a_leaderboard_cursor_keeps_its_place_across_a_refit(client):
    for i in range(6):
        make_author(f"ranked{i}", score=50 + i)
    first = client.get("/api/v1/leaderboard", {"limit": 3}).json()
    assert [a["handle"] for a in first["results"]] == ["ranked5", "ranked4", "ranked3"]

    # A refit turns the order upside down between two pages.
    for i in range(6):
        _rescore(f"ranked{i}", 90 - i)
    leaderboard.ranking_create()

    second = client.get(first["next"]).json()
    assert [a["handle"] for a in second["results"]] == ["ranked2", "ranked1", "ranked0"]  # no repeats, no gaps
    assert second["results"][0]["score"] == 88.0  # current figures, the first page's order
    fresh = client.get("/api/v1/leaderboard", {"limit": 3}).json()
    assert [a["handle"] for a in fresh["results"]] == ["ranked0", "ranked1", "ranked2"]
    back = client.get(second["previous"]).json()
    assert [a["handle"] for a in back["results"]] == ["ranked5", "ranked4", "ranked3"] and back["previous"] is None


def test_a_leaderboard_cursor_of_a_dropped_ranking_says_so(client):
    for i in range(3):
        make_author(f"ranked{i}", score=50 + i)
    first = client.get("/api/v1/leaderboard", {"limit": 1}).json()
    for _ in range(leaderboard.LEADERBOARD_KEEP - 1):
        leaderboard.ranking_create()
    assert client.get(first["next"]).status_code == 200  # still kept
    leaderboard.ranking_create()
    body = assert_problem(client.get(first["next"]), 404)
    assert "expired" in body["detail"]


# --- CORS ---

ORIGIN = "https://third-party.example"


def test_reads_answer_any_origin_without_credentials_and_expose_the_useful_headers(client):
    make_author("writer")
    response = client.get("/api/v1/authors/x/writer", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after",
            "x-request-id", "link"} <= exposed
    lookup = client.post("/api/v1/authors/lookup", {"handles": ["writer"]}, format="json", HTTP_ORIGIN=ORIGIN)
    assert lookup["Access-Control-Allow-Origin"] == "*"  # a read, by POST


def test_a_read_preflight_is_allowed_and_a_write_preflight_is_not(client):
    read = client.options("/api/v1/authors/x/writer", HTTP_ORIGIN=ORIGIN,
                          HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET", HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization")
    assert read.status_code == 200 and read["Access-Control-Allow-Origin"] == "*"
    assert "authorization" in read["Access-Control-Allow-Headers"]
    write = client.options("/api/v1/votes", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                           HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type")
    assert "Access-Control-Allow-Origin" not in write


def test_writes_carry_no_cors_headers(alice):
    client, _ = token_client(alice)
    vote = client.post("/api/v1/votes", {"url": "https://x.com/writer/status/1", "value": 1}, format="json",
                       HTTP_ORIGIN=ORIGIN)
    assert vote.status_code == 201 and "Access-Control-Allow-Origin" not in vote
    retract = client.delete("/api/v1/votes/x/1", HTTP_ORIGIN=ORIGIN)
    assert retract.status_code == 204 and "Access-Control-Allow-Origin" not in retract


def test_site_pages_carry_no_cors_headers(client):
    assert "Access-Control-Allow-Origin" not in client.get("/", HTTP_ORIGIN=ORIGIN)
