"""Reputation badges: /badge/<platform>/<handle>.svg and the snippet on the author page."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.test import override_settings
from django.urls import reverse

from reputation.models import AuthorReputation
from votes.models import Author

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"


def rated(handle: str = "writer", platform: str = "x", **figures) -> Author:
    author = Author.objects.create(platform=platform, handle=handle)
    values = {"score": 72.4, "low": 61.2, "high": 80.6, "status": "established", "upvotes": 9, "downvotes": 2,
              "voters": 9, **figures}
    AuthorReputation.objects.create(author=author, updated_at="2026-11-30T10:00:00Z", **values)
    return author


def texts(response) -> list[str]:
    root = ET.fromstring(response.content)
    assert root.tag == f"{SVG}svg"
    return [t.text for t in root.iter(f"{SVG}text")] + [t.text for t in root.iter(f"{SVG}title")]


def test_a_badge_shows_the_score_interval_and_status_as_an_svg(client):
    rated()
    response = client.get("/badge/x/writer.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
    words = texts(response)
    assert "Merit" in words and "72 (61\u201381) established" in words
    assert "Merit reputation of @writer: 72 out of 100, 90% interval 61 to 81, established" in words
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"  # it is meant to be embedded elsewhere


def test_the_handle_is_found_in_any_case_and_mastodon_handles_work(client):
    rated("Ada@mastodon.social", platform="mastodon", score=30.0, low=20.0, high=41.0, status="provisional")
    response = client.get("/badge/mastodon/ada@Mastodon.Social.svg")
    assert response.status_code == 200
    assert "30 (20\u201341) provisional" in texts(response)


def test_too_few_votes_says_so_instead_of_a_number(client):
    rated("newbie", status="insufficient_data")
    assert "too few votes yet" in texts(client.get("/badge/x/newbie.svg"))


@pytest.mark.parametrize("path", ["/badge/x/nobody.svg", "/badge/myspace/writer.svg"])
def test_an_unknown_author_gets_a_not_rated_badge_with_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("image/svg+xml")
    assert "not rated" in texts(response)


def test_a_conditional_get_is_answered_304_until_the_reputation_changes(client):
    author = rated()
    first = client.get("/badge/x/writer.svg")
    etag, modified = first["ETag"], first["Last-Modified"]
    assert modified == "Mon, 30 Nov 2026 10:00:00 GMT"

    again = client.get("/badge/x/writer.svg", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert client.get("/badge/x/writer.svg", HTTP_IF_MODIFIED_SINCE=modified).status_code == 304

    AuthorReputation.objects.filter(author=author).update(score=55.0, updated_at="2026-12-01T10:00:00Z")
    changed = client.get("/badge/x/writer.svg", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert any(t.startswith("55 ") for t in texts(changed))


def test_a_handle_cannot_inject_markup_into_the_badge(client):
    response = client.get('/badge/x/<script>alert(1)<"a">.svg')
    assert response.status_code == 404
    assert b"<script>" not in response.content
    texts(response)  # still well-formed XML


def test_badges_are_throttled_per_client(client):
    from django.conf import settings

    from api.throttles import local_counts

    rated()
    local_counts.clear()  # earlier tests' hits, held in this process
    rates = {"badge": "3/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK,
                                           "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                                                      **rates}}):
        statuses = [client.get("/badge/x/writer.svg").status_code for _ in range(4)]
        refused = client.get("/badge/x/writer.svg")
    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1


def test_the_author_page_offers_the_badge_as_markdown_and_html_to_copy(client):
    rated()
    page = client.get(reverse("author", args=["x", "writer"])).content.decode()
    assert '<img src="/badge/x/writer.svg" alt="Merit reputation of @writer"' in page
    assert ('value="[![Merit reputation of @writer](http://testserver/badge/x/writer.svg)]'
            '(http://testserver/a/x/writer/)"') in page
    # The HTML snippet is itself escaped into the attribute: shown as text, never rendered.
    assert 'value="&lt;a href=&quot;http://testserver/a/x/writer/&quot;&gt;&lt;img src=' in page
