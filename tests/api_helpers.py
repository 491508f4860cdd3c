"""Shared helpers for the API tests: seeded reputations, tokens and keys."""

from __future__ import annotations

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from reputation.models import AuthorReputation
from votes.models import Author

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def make_author(handle: str, *, score: float = 72.34, status: str = "established", platform: str = "x", **rep):
    author = Author.objects.create(platform=platform, handle=handle, follower_count=rep.pop("follower_count", 1200))
    AuthorReputation.objects.create(
        author=author, score=score, low=rep.pop("low", score - 10), high=rep.pop("high", score + 10),
        upvotes=rep.pop("upvotes", 10), downvotes=rep.pop("downvotes", 2), voters=rep.pop("voters", 11),
        effective_voters=rep.pop("effective_voters", 8.456), status=status, percentile=rep.pop("percentile", 81.25),
        explanation=rep.pop("explanation", {"summary": "Mostly upvoted by credible voters."}),
        updated_at=timezone.now(), **rep,
    )
    return author


def token_client(user) -> tuple[APIClient, str]:
    _, token = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client, token


def key_client(name: str = "acme") -> APIClient:
    _, key = APIKey.objects.create_key(name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["type"].startswith("http")
    return body


@pytest.fixture(autouse=True)
def clear_local_cards():
    """The per-process caches (cards, rate-limit tallies) outlive conftest's cache.clear(); start every test empty."""
    from api.services import local_cards
    from api.throttles import local_counts

    local_cards.clear()
    local_counts.clear()
    yield
    local_cards.clear()
    local_counts.clear()
