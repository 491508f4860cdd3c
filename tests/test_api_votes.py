"""Writes: only a person's device token votes, only on their own behalf; API keys never vote."""

from __future__ import annotations

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from votes import services as vote_services
from votes.models import Author, Vote, VoteEvent

from .api_helpers import assert_problem, clear_local_cards, key_client, token_client  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "https://x.com/writer/status/1790000000000000001"
VOTE_KEYS = {"platform", "post_id", "author", "value", "reason", "solicited", "created_at", "updated_at"}


def test_it_casts_a_vote_by_url_then_changes_it(alice):
    client, _ = token_client(alice)
    first = client.post("/api/v1/votes", {"url": URL, "value": 1}, format="json")
    assert first.status_code == 201
    assert set(first.json()) == VOTE_KEYS
    assert first.json()["post_id"] == "1790000000000000001" and first.json()["author"] == "writer"
    changed = client.post("/api/v1/votes", {"url": URL, "value": -1, "reason": "spam"}, format="json")
    assert changed.status_code == 200 and changed.json()["value"] == -1 and changed.json()["reason"] == "spam"
    vote = Vote.objects.get(voter=alice)
    assert (vote.value, vote.reason) == (-1, "spam")
    assert list(VoteEvent.objects.values_list("action", "source")) == [("cast", "api"), ("changed", "api")]


def test_it_casts_a_vote_by_platform_post_id_and_author(alice):
    client, _ = token_client(alice)
    body = {"platform": "x", "post_id": "123", "author": "someone", "value": -1, "reason": "misleading"}
    response = client.post("/api/v1/votes/", body, format="json")
    assert response.status_code == 201
    assert Vote.objects.get(voter=alice).post.url == "https://x.com/someone/status/123"


def test_repeating_the_same_vote_is_a_harmless_200(alice):
    client, _ = token_client(alice)
    assert client.post("/api/v1/votes", {"url": URL, "value": 1}, format="json").status_code == 201
    assert client.post("/api/v1/votes", {"url": URL, "value": 1}, format="json").status_code == 200
    assert Vote.objects.count() == 1


@pytest.mark.parametrize("body", [
    {"url": "https://example.com/not-a-post", "value": 1},
    {"url": URL, "value": 7},
    {"url": URL, "value": 1, "reason": "spam"},
    {"platform": "x", "post_id": "123", "value": 1},
    {"value": 1},
])
def test_invalid_votes_are_400_problems(alice, body):
    client, _ = token_client(alice)
    assert_problem(client.post("/api/v1/votes", body, format="json"), 400)
    assert Vote.objects.count() == 0


def test_a_self_vote_is_a_403_problem(alice):
    vote_services.author_link(user=alice, platform="x", handle="writer")
    client, _ = token_client(alice)
    body = assert_problem(client.post("/api/v1/votes", {"url": URL, "value": 1}, format="json"), 403)
    assert body["type"].endswith("/self-vote")


def test_claiming_a_post_for_another_author_is_a_409_problem(alice, post):
    client, _ = token_client(alice)
    body = {"platform": "x", "post_id": post.external_id, "author": "impostor", "value": 1}
    problem = assert_problem(client.post("/api/v1/votes", body, format="json"), 409)
    assert "@writer" in problem["detail"]


def test_anonymous_callers_cannot_vote(db):
    response = APIClient().post("/api/v1/votes", {"url": URL, "value": 1}, format="json")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == "Token"
    assert_problem(APIClient().get("/api/v1/votes"), 401)


def test_an_api_key_can_never_vote_or_list_votes(db):
    client = key_client()
    body = assert_problem(client.post("/api/v1/votes", {"url": URL, "value": 1}, format="json"), 403)
    assert body["type"].endswith("/api-key-cannot-vote")
    assert_problem(client.delete("/api/v1/votes/x/1790000000000000001"), 403)
    assert_problem(client.get("/api/v1/votes"), 403)
    assert Vote.objects.count() == 0 and Author.objects.count() == 0


def test_an_api_key_can_read(db):
    assert key_client().get("/api/v1/authors", {"handles": "a"}).status_code == 200


def test_a_bad_token_or_key_is_a_401_problem(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_problem(client.get("/api/v1/authors", {"handles": "a"}), 401)
    client.credentials(HTTP_AUTHORIZATION="Api-Key nope.nope")
    assert_problem(client.get("/api/v1/authors", {"handles": "a"}), 401)


def test_a_token_only_changes_its_own_users_votes(alice, bob, post):
    vote_services.vote_cast(voter=alice, post=post, value=1)
    bob_client, _ = token_client(bob)
    # Bob retracting "his" vote on the post cannot touch Alice's.
    assert_problem(bob_client.delete(f"/api/v1/votes/x/{post.external_id}"), 404)
    bob_client.post("/api/v1/votes", {"url": post.url, "value": -1, "reason": "spam"}, format="json")
    assert Vote.objects.get(voter=alice).value == 1
    assert Vote.objects.get(voter=bob).value == -1
    assert [v["value"] for v in bob_client.get("/api/v1/votes").json()["results"]] == [-1]


def test_it_retracts_a_vote(alice, post):
    client, _ = token_client(alice)
    client.post("/api/v1/votes", {"url": post.url, "value": 1}, format="json")
    response = client.delete(f"/api/v1/votes/x/{post.external_id}")
    assert response.status_code == 204
    assert not Vote.objects.exists()
    assert_problem(client.delete(f"/api/v1/votes/x/{post.external_id}"), 404)
    assert_problem(client.delete("/api/v1/votes/x/4242"), 404)


def test_it_lists_my_votes_filtered_by_post_ids(alice):
    client, _ = token_client(alice)
    for post_id in ("11", "12", "13"):
        client.post("/api/v1/votes", {"platform": "x", "post_id": post_id, "author": "w", "value": 1}, format="json")
    every = client.get("/api/v1/votes").json()
    assert [v["post_id"] for v in every["results"]] == ["13", "12", "11"]
    some = client.get("/api/v1/votes", {"platform": "x", "post_ids": "11,13,99"}).json()
    assert sorted(v["post_id"] for v in some["results"]) == ["11", "13"]
    assert_problem(client.get("/api/v1/votes", {"post_ids": ",".join(str(i) for i in range(101))}), 400)


def test_a_deactivated_users_token_stops_working_at_once(alice):
    client, _ = token_client(alice)
    assert client.get("/api/v1/votes").status_code == 200  # now remembered in the cache
    alice.is_active = False
    alice.save()
    assert_problem(client.get("/api/v1/votes"), 401)


def test_a_revoked_token_stops_working(alice):
    client, _ = token_client(alice)
    assert client.get("/api/v1/votes").status_code == 200
    AuthToken.objects.filter(user=alice).delete()
    assert_problem(client.get("/api/v1/votes"), 401)


@pytest.mark.parametrize("url, message", [
    ("[", "not a link"),
    ("https://[", "not a link"),
    ("https://x.com/i/status/1790000000000000001", "do not say who wrote the post"),
    ("https://x.com/i/web/status/1790000000000000001", "do not say who wrote the post"),
    ("https://x.com/home/status/1790000000000000001", "do not say who wrote the post"),
    (" https://x.com/writer/status/1", "no spaces"),
])
def test_a_link_that_names_no_post_and_author_is_a_400_that_says_why(alice, url, message):
    client, _ = token_client(alice)
    problem = assert_problem(client.post("/api/v1/votes", {"url": url, "value": 1}, format="json"), 400)
    assert message in problem["detail"]
    assert not Author.objects.exists() and not Vote.objects.exists()


@pytest.mark.parametrize("author", ["i", "home", "@Search", "settings"])
def test_an_x_app_route_is_not_an_author(alice, author):
    client, _ = token_client(alice)
    body = {"platform": "x", "post_id": "123", "author": author, "value": 1}
    problem = assert_problem(client.post("/api/v1/votes", body, format="json"), 400)
    assert "not a handle" in problem["detail"].lower()
    assert not Author.objects.exists()


def test_a_bluesky_link_that_names_the_author_by_did_casts_the_vote(alice):
    client, _ = token_client(alice)
    did = "did:plc:z72i7hdynmk6r22z27h6tvur"
    response = client.post("/api/v1/votes", {"url": f"https://bsky.app/profile/{did}/post/3kq2abcxyz", "value": 1},
                           format="json")
    assert response.status_code == 201
    assert (response.json()["platform"], response.json()["author"]) == ("bluesky", did)


def test_a_did_link_to_a_post_known_by_its_authors_handle_counts_on_that_post(alice, bob):
    token_client(bob)[0].post("/api/v1/votes", {"url": "https://bsky.app/profile/alice.bsky.social/post/3kq2abcxyz",
                                                "value": 1}, format="json")
    did_link = "https://bsky.app/profile/did:plc:z72i7hdynmk6r22z27h6tvur/post/3kq2abcxyz"
    response = token_client(alice)[0].post("/api/v1/votes", {"url": did_link, "value": -1}, format="json")
    # A DID and a handle cannot be matched without asking Bluesky, so the post keeps the author it has.
    assert response.status_code == 201 and response.json()["author"] == "alice.bsky.social"
    assert Vote.objects.filter(post__external_id="3kq2abcxyz").count() == 2


def test_a_url_and_a_post_id_together_are_refused(alice):
    client, _ = token_client(alice)
    body = {"url": URL, "platform": "x", "post_id": "1", "author": "writer", "value": 1}
    problem = assert_problem(client.post("/api/v1/votes", body, format="json"), 400)
    assert "not both" in problem["detail"]


def test_a_change_to_a_vote_another_request_just_created_answers_200(alice, monkeypatch):
    """201 means this request created the vote, however close in time another request came."""
    register = vote_services.post_register

    def register_while_another_device_votes(**kwargs):
        post = register(**kwargs)
        vote_services.vote_cast(voter=alice, post=post, value=1, source="api")  # the other request wins the race
        return post

    monkeypatch.setattr(vote_services, "post_register", register_while_another_device_votes)
    client, _ = token_client(alice)
    response = client.post("/api/v1/votes", {"url": URL, "value": -1, "reason": "spam"}, format="json")
    assert response.status_code == 200 and response.json()["value"] == -1
    assert list(VoteEvent.objects.values_list("action", flat=True)) == ["cast", "changed"]
