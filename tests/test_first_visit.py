"""What a first visit runs into, each fixed as a person would expect: links that carry the address the site
was reached on, README examples that work on the demo world, labeled numbers and plain words."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from reputation.models import AuthorReputation, Status
from tests.conftest import make_user
from votes import services

pytestmark = pytest.mark.django_db


def scored(url: str, **fields):
    post = services.post_register(url=url)
    defaults = {"score": 64.0, "low": 51.0, "high": 77.0, "upvotes": 9, "voters": 9, "effective_voters": 6.5,
                "status": Status.PROVISIONAL}
    AuthorReputation.objects.create(author=post.author, **{**defaults, **fields})
    return post


# --- Absolute URLs: from the request, or SITE_URL when it is set ---------------------------------------

def test_api_urls_and_problem_types_carry_the_host_and_port_the_request_came_in_on():
    scored("https://x.com/writer/status/1790000000000000001")
    client = Client(HTTP_HOST="localhost:8731")
    single = client.get("/api/v1/authors/x/writer").json()
    batch = client.get("/api/v1/authors?platform=x&handles=writer").json()
    problem = client.get("/api/v1/authors/x/nobody-here").json()
    assert single["url"] == "http://localhost:8731/a/x/writer/"
    assert batch["results"]["writer"]["url"] == "http://localhost:8731/a/x/writer/"
    assert problem["type"] == "http://localhost:8731/api/v1/problems/not-found"


def test_a_cached_card_is_not_handed_to_another_host_with_the_first_hosts_address():
    scored("https://x.com/writer/status/1790000000000000001")
    assert Client(HTTP_HOST="localhost:8731").get("/api/v1/authors/x/writer").json()["url"].startswith(
        "http://localhost:8731/")
    # Same card, now from the cache: the second reader's own address.
    assert Client(HTTP_HOST="127.0.0.1:9000").get("/api/v1/authors?handles=writer").json()["results"]["writer"][
        "url"] == "http://127.0.0.1:9000/a/x/writer/"


@override_settings(SITE_URL="https://merit.example/")
def test_site_url_when_set_wins_over_the_request():
    scored("https://x.com/writer/status/1790000000000000001")
    client = Client(HTTP_HOST="localhost:8731")
    assert client.get("/api/v1/authors/x/writer").json()["url"] == "https://merit.example/a/x/writer/"
    assert client.get("/api/v1/nope").json()["type"] == "https://merit.example/api/v1/problems/not-found"


def test_a_host_outside_allowed_hosts_never_becomes_a_link():
    response = Client(HTTP_HOST="evil.example").get("/api/v1/authors/x/writer")
    assert response.status_code == 400 and b"evil.example" not in response.content


def test_the_readme_documents_site_url_in_its_settings_table():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "| `SITE_URL` |" in table


def test_the_rate_next_page_url_follows_the_request():
    from knox.models import AuthToken

    user = make_user("alice")
    _, token = AuthToken.objects.create(user=user)
    body = Client(HTTP_HOST="localhost:8731", HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/rate-next").json()
    assert body["page_url"] == "http://localhost:8731/rate-next/"
