"""Public reads: authors (single, batch, POST lookup), history, posts, leaderboard, search."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from reputation import services as reputation_services
from reputation.models import PostScore, ReputationSnapshot
from votes import services as vote_services

from .api_helpers import assert_problem, clear_local_cards, make_author, token_client  # noqa: F401

pytestmark = pytest.mark.django_db
AUTHOR_KEYS = {
    "platform", "handle", "url", "score", "low", "high", "status", "votes", "upvotes", "downvotes", "voters",
    "effective_voters", "solicited_share", "percentile", "follower_count", "updated_at", "explanation",
    "verified", "verified_since",
}


@pytest.fixture
def client():
    return APIClient()


def test_it_returns_one_author_with_the_contract_fields(client):
    make_author("Writer", score=72.34)
    response = client.get("/api/v1/authors/x/writer")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == AUTHOR_KEYS
    assert body["handle"] == "Writer" and body["score"] == 72.3 and body["low"] == 62.3 and body["high"] == 82.3
    assert body["votes"] == 12 and body["status"] == "established" and body["effective_voters"] == 8.46
    assert body["url"].endswith("/a/x/Writer/")
    assert body["explanation"] == {"summary": "Mostly upvoted by credible voters."}


def test_a_refreshed_author_is_served_fresh_at_once_not_when_the_cached_card_expires(
    client, alice, django_capture_on_commit_callbacks
):
    author = make_author("writer", score=72.34)
    assert client.get("/api/v1/authors/x/writer").json()["votes"] == 12  # now cached
    post = vote_services.post_register(url="https://x.com/writer/status/1")
    vote_services.vote_cast(voter=alice, post=post, value=-1)

    with django_capture_on_commit_callbacks(execute=True):
        reputation_services.author_refresh(author_id=author.pk)

    for path in ("/api/v1/authors/x/writer", "/api/v1/authors?handles=writer"):
        body = client.get(path).json()
        card = body["results"]["writer"] if "results" in body else body
        assert card["votes"] == 1 and card["downvotes"] == 1


def test_a_handle_answered_unknown_is_known_as_soon_as_a_vote_registers_it(client, django_capture_on_commit_callbacks):
    assert client.get("/api/v1/authors?handles=newcomer").json()["results"] == {"newcomer": None}  # cached

    with django_capture_on_commit_callbacks(execute=True):
        vote_services.post_register(url="https://x.com/Newcomer/status/7")

    assert client.get("/api/v1/authors?handles=newcomer").json()["results"]["newcomer"]["handle"] == "Newcomer"


def test_a_full_refit_drops_every_cached_card(client, alice, django_capture_on_commit_callbacks):
    make_author("writer", score=72.34)
    post = vote_services.post_register(url="https://x.com/writer/status/1")
    vote_services.vote_cast(voter=alice, post=post, value=1)
    assert client.get("/api/v1/authors/x/writer").json()["votes"] == 12  # cached

    with django_capture_on_commit_callbacks(execute=True):
        reputation_services.recompute_all()

    assert client.get("/api/v1/authors/x/writer").json()["votes"] == 1


def test_it_answers_with_and_without_a_trailing_slash(client):
    make_author("writer")
    assert client.get("/api/v1/authors/x/writer/").status_code == 200
    assert client.get("/api/v1/authors/x/writer").status_code == 200


def test_it_gives_an_author_without_a_reputation_row_the_insufficient_data_defaults(client):
    vote_services.post_register(url="https://x.com/newbie/status/5")
    body = client.get("/api/v1/authors/x/newbie").json()
    assert body["status"] == "insufficient_data" and body["votes"] == 0 and body["updated_at"] is None


def test_it_answers_404_problem_for_an_unknown_author_or_platform(client):
    assert_problem(client.get("/api/v1/authors/x/nobody"), 404)
    assert_problem(client.get("/api/v1/authors/myspace/tom"), 404)


def test_batch_maps_lower_cased_handles_and_null_for_unknown(client):
    make_author("Alpha")
    make_author("beta", score=40.0)
    response = client.get("/api/v1/authors", {"platform": "x", "handles": "ALPHA,beta,ghost,alpha, @Beta"})
    assert response.status_code == 200
    body = response.json()
    assert body["platform"] == "x"
    assert list(body["results"]) == ["alpha", "beta", "ghost"]
    assert body["results"]["alpha"]["handle"] == "Alpha"
    assert body["results"]["beta"]["score"] == 40.0
    assert body["results"]["ghost"] is None


@pytest.mark.parametrize("odd", ['quo"te', "back\\slash", "tab\there", "ünï", "x\x1f", "\u2003padded"])
def test_batch_refuses_what_cannot_be_a_handle_as_the_schema_says(client, odd):
    body = assert_problem(client.get("/api/v1/authors", {"handles": f"alpha,{odd}"}), 400)
    assert "letters, digits and _ . : -" in body["detail"]
    assert_problem(client.post("/api/v1/authors/lookup", {"handles": [odd]}, format="json"), 400)


def test_batch_refuses_surrogate_characters_with_a_problem(client):
    response = client.post("/api/v1/authors/lookup", data='{"handles": ["ok", "bad\\ud800"]}',
                           content_type="application/json")
    assert_problem(response, 400)


def test_batch_of_100_handles_costs_at_most_one_query_and_none_when_cached(client):
    for i in range(60):
        make_author(f"user{i}")
    handles = ",".join(f"user{i}" for i in range(100))
    with CaptureQueriesContext(connection) as cold:
        response = client.get("/api/v1/authors", {"handles": handles})
    assert response.status_code == 200
    assert sum(v is not None for v in response.json()["results"].values()) == 60
    assert len(cold.captured_queries) == 1
    with CaptureQueriesContext(connection) as warm:
        assert client.get("/api/v1/authors", {"handles": handles}).status_code == 200
    assert len(warm.captured_queries) == 0


def test_batch_refuses_more_than_100_handles_with_a_problem(client):
    handles = ",".join(f"user{i}" for i in range(101))
    body = assert_problem(client.get("/api/v1/authors", {"handles": handles}), 400)
    assert body["errors"][0]["pointer"] == "#/handles"
    assert "POST /api/v1/authors/lookup" in body["detail"]


def test_batch_needs_handles(client):
    assert_problem(client.get("/api/v1/authors"), 400)
    assert_problem(client.get("/api/v1/authors", {"handles": " , "}), 400)


def test_post_lookup_takes_larger_batches_anonymously(client):
    make_author("gamma")
    handles = ["gamma"] + [f"nobody{i}" for i in range(499)]
    response = client.post("/api/v1/authors/lookup", {"platform": "x", "handles": handles}, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 500 and results["gamma"]["handle"] == "gamma" and results["nobody7"] is None


def test_post_lookup_refuses_more_than_1000(client):
    response = client.post("/api/v1/authors/lookup", {"handles": [f"h{i}" for i in range(1001)]}, format="json")
    assert_problem(response, 400)


def test_history_returns_daily_points_within_the_window(client):
    author = make_author("writer")
    today = timezone.now().date()
    for days_ago in (0, 1, 30, 100):
        ReputationSnapshot.objects.create(
            author=author, day=today - timedelta(days=days_ago), score=60 + days_ago / 10, low=50, high=70, votes=5
        )
    body = client.get("/api/v1/authors/x/Writer/history", {"days": 90}).json()
    assert [p["day"] for p in body["points"]] == [
        (today - timedelta(days=30)).isoformat(), (today - timedelta(days=1)).isoformat(), today.isoformat()
    ]
    assert body["points"][0] == {"day": (today - timedelta(days=30)).isoformat(), "score": 63.0, "low": 50.0,
                                 "high": 70.0, "votes": 5, "note": ""}
    assert_problem(client.get("/api/v1/authors/x/writer/history", {"days": 0}), 400)
    assert_problem(client.get("/api/v1/authors/x/ghost/history"), 404)


def test_post_shows_quality_and_my_vote_only_to_me(client, alice, bob, post):
    PostScore.objects.create(post=post, quality=81.26, upvotes=3, downvotes=1)
    vote_services.vote_cast(voter=alice, post=post, value=-1, reason="spam")
    anonymous = client.get(f"/api/v1/posts/x/{post.external_id}").json()
    assert anonymous == {"platform": "x", "post_id": post.external_id, "author": "writer", "url": post.url,
                         "quality": 81.3, "upvotes": 3, "downvotes": 1, "my_vote": None,
                         "preview": {"text": "", "author_name": "", "created_at": None, "fetched_at": None,
                                     "status": "pending", "image_url": None}}
    alice_client, _ = token_client(alice)
    bob_client, _ = token_client(bob)
    assert alice_client.get(f"/api/v1/posts/x/{post.external_id}").json()["my_vote"] == -1
    assert bob_client.get(f"/api/v1/posts/x/{post.external_id}").json()["my_vote"] is None
    assert_problem(client.get("/api/v1/posts/x/999"), 404)


def test_leaderboard_is_cursor_paginated_by_score_and_hides_unestablished(client):
    for i in range(30):
        make_author(f"ranked{i:02d}", score=50 + i)
    make_author("newcomer", score=99, status="insufficient_data")
    first = client.get("/api/v1/leaderboard", {"platform": "x", "limit": 20}).json()
    assert set(first) == {"next", "previous", "results"}
    assert [a["handle"] for a in first["results"][:2]] == ["ranked29", "ranked28"]
    assert len(first["results"]) == 20
    second = client.get(first["next"]).json()
    handles = [a["handle"] for a in first["results"] + second["results"]]
    assert len(handles) == 30 and len(set(handles)) == 30 and "newcomer" not in handles
    assert second["next"] is None


def test_an_invalid_cursor_is_a_404_problem(client):
    assert_problem(client.get("/api/v1/leaderboard", {"cursor": "garbage"}), 404)


def test_search_finds_handles_by_case_insensitive_prefix(client):
    for handle in ("Alpine", "alpha", "beta"):
        make_author(handle)
    body = client.get("/api/v1/authors/search", {"q": "AL"}).json()
    assert [a["handle"] for a in body["results"]] == ["alpha", "Alpine"]
    assert_problem(client.get("/api/v1/authors/search"), 400)
