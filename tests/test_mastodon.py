"""Mastodon: links on any instance, authors as user@instance, through the site, the API and the commands."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from reputation import services as rep_services
from tests.conftest import make_user
from votes import services
from votes.models import Author, Post, Vote
from votes.platforms import PostURLError, normalize_handle, parse_post_url, validate_post_id

from .api_helpers import assert_problem, token_client

# --- Links --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, handle, post_id, canonical",
    [
        ("https://mastodon.social/@Gargron/109876543210", "Gargron@mastodon.social", "mastodon.social:109876543210",
         "https://mastodon.social/@Gargron/109876543210"),
        ("https://Mastodon.Social/@alice/1?foo=bar#top", "alice@mastodon.social", "mastodon.social:1",
         "https://mastodon.social/@alice/1"),
        # A remote author as another instance shows them: the author's home is theirs, the id the instance's.
        ("https://fosstodon.org/@alice@Mastodon.Social/113/embed", "alice@mastodon.social", "fosstodon.org:113",
         "https://fosstodon.org/@alice@mastodon.social/113"),
        ("https://hachyderm.io/users/bob_b/statuses/42", "bob_b@hachyderm.io", "hachyderm.io:42",
         "https://hachyderm.io/@bob_b/42"),
        ("social.example.co.uk/@dot.ted/7", "dot.ted@social.example.co.uk", "social.example.co.uk:7",
         "https://social.example.co.uk/@dot.ted/7"),
    ],
)
def test_it_reads_mastodon_links_on_any_instance(url, handle, post_id, canonical):
    ref = parse_post_url(url)
    assert (ref.platform, ref.handle, ref.post_id, ref.url) == ("mastodon", handle, post_id, canonical)


@pytest.mark.parametrize(
    "url, message",
    [
        ("https://mastodon.social/@alice", "This Mastodon link does not point at a single post"),
        ("https://mastodon.social/@alice/not-a-number", "does not point at a single post"),
        ("https://mastodon.social:8443/@alice/1", "without a user name or port"),
        ("https://example.com/some/page", "is not a supported site"),
        ("https://x.com/@alice/1", "This X link does not point at a single post"),  # x.com is never an instance
    ],
)
def test_links_that_are_not_one_mastodon_post_say_what_is_wrong(url, message):
    with pytest.raises(PostURLError, match=message):
        parse_post_url(url)


def test_an_unsupported_site_is_told_which_sites_are_supported():
    with pytest.raises(PostURLError) as exc:
        parse_post_url("https://example.com/a/status/1")
    assert "x.com" in str(exc.value) and "bsky.app" in str(exc.value) and "any Mastodon instance" in str(exc.value)


@pytest.mark.parametrize("text", ["not a url at all", "notaurl", "[", "https://[", "hello"])
def test_text_that_is_not_a_link_is_told_so(text):
    with pytest.raises(PostURLError, match=r"^That is not a link to a post\."):
        parse_post_url(text)


def test_handles_are_user_at_instance_with_the_instance_lower_cased():
    assert normalize_handle("mastodon", "@Alice@Mastodon.SOCIAL") == "Alice@mastodon.social"
    assert validate_post_id("mastodon", "Mastodon.Social:123") == "mastodon.social:123"
    for bad in ("alice", "alice@", "@mastodon.social", "al ice@mastodon.social", "alice@localhost"):
        with pytest.raises(PostURLError, match="not a valid Mastodon handle"):
            normalize_handle("mastodon", bad)
    with pytest.raises(PostURLError, match="not a valid Mastodon post id"):
        validate_post_id("mastodon", "123")


# --- Through the site and the API --------------------------------------------------


@pytest.mark.django_db
def test_pasting_a_mastodon_link_on_the_site_registers_the_post_under_its_author(client):
    client.force_login(make_user("paster"))
    response = client.post(reverse("rate"), {"url": "https://fosstodon.org/@Ada@Mastodon.Social/1100"})
    post = Post.objects.get()
    assert response.status_code == 302 and response.url == reverse("post", args=[post.pk])
    assert (post.platform, post.external_id, post.author.handle) == ("mastodon", "fosstodon.org:1100",
                                                                     "Ada@mastodon.social")
    assert post.url == "https://fosstodon.org/@Ada@mastodon.social/1100"
    page = client.get(response.url).content.decode()
    assert "@Ada@mastodon.social" in page and "Mastodon" in page
    author_page = client.get(reverse("author", args=["mastodon", "Ada@mastodon.social"]))
    assert author_page.status_code == 200


@pytest.mark.django_db
def test_the_site_tells_a_pasted_non_link_that_it_is_not_a_link_and_registers_nothing(client):
    client.force_login(make_user("paster"))
    response = client.post(reverse("rate"), {"url": "not a url at all"})
    assert response.status_code == 400
    assert "That is not a link to a post." in response.content.decode()
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_the_api_takes_mastodon_votes_by_link_and_by_platform_post_id_and_author():
    voter = make_user("fedi_voter")
    client, _ = token_client(voter)
    by_url = client.post("/api/v1/votes", {"url": "https://mastodon.social/users/ada/statuses/77", "value": 1},
                         format="json")
    assert by_url.status_code == 201, by_url.content
    assert (by_url.json()["post_id"], by_url.json()["author"]) == ("mastodon.social:77", "ada@mastodon.social")

    body = {"platform": "mastodon", "post_id": "Fosstodon.org:78", "author": "@ada@mastodon.social", "value": -1,
            "reason": "spam"}
    by_id = client.post("/api/v1/votes", body, format="json")
    assert by_id.status_code == 201, by_id.content
    post = Post.objects.get(external_id="fosstodon.org:78")
    assert post.url == "https://fosstodon.org/@ada@mastodon.social/78"
    assert Author.objects.filter(platform="mastodon").count() == 1

    mine = client.get("/api/v1/votes", {"platform": "mastodon", "post_ids": "mastodon.social:77,fosstodon.org:78"})
    assert {v["post_id"]: v["value"] for v in mine.json()["results"]} == {"mastodon.social:77": 1,
                                                                         "fosstodon.org:78": -1}
    assert client.delete("/api/v1/votes/mastodon/fosstodon.org:78").status_code == 204
    assert not Vote.objects.filter(post=post).exists()


@pytest.mark.django_db
def test_the_api_refuses_a_mastodon_vote_whose_author_is_not_user_at_instance():
    client, _ = token_client(make_user("fedi_voter"))
    body = {"platform": "mastodon", "post_id": "mastodon.social:5", "author": "ada", "value": 1}
    assert_problem(client.post("/api/v1/votes", body, format="json"), 400)
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_author_lookups_answer_by_user_at_instance_in_any_case(client):
    post = services.post_register(url="https://mastodon.social/@Ada/5")
    for i in range(3):
        services.vote_cast(voter=make_user(f"v{i}"), post=post, value=1)
    rep_services.recompute_all()

    batch = client.get("/api/v1/authors", {"platform": "mastodon", "handles": "@ADA@Mastodon.Social,ghost@a.b"})
    assert batch.status_code == 200, batch.content
    results = batch.json()["results"]
    assert results["ada@mastodon.social"]["handle"] == "Ada@mastodon.social"
    assert results["ghost@a.b"] is None
    lookup = client.post("/api/v1/authors/lookup", {"platform": "mastodon", "handles": ["ada@mastodon.social"]},
                         content_type="application/json")
    assert lookup.json()["results"]["ada@mastodon.social"]["votes"] == 3
    detail = client.get("/api/v1/authors/mastodon/ada@mastodon.social")
    assert detail.status_code == 200 and detail.json()["handle"] == "Ada@mastodon.social"


# --- Commands ----------------------------------------------------------------------


def _import(tmp_path, rows: list[str]) -> str:
    path = tmp_path / "votes.csv"
    path.write_text("platform,post_id,author,voter,value,created_at,voter_joined_at\n" + "\n".join(rows) + "\n")
    out = io.StringIO()
    call_command("import_votes", str(path), stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_import_and_export_carry_mastodon_authors(tmp_path):
    _import(tmp_path, [
        "mastodon,Mastodon.Social:101,@Ada@Mastodon.Social,carol,1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z",
        "mastodon,fosstodon.org:9,ada@mastodon.social,dave,1,2025-01-11T10:00:00Z,2024-01-01T00:00:00Z",
    ])
    assert sorted(Post.objects.values_list("external_id", "url")) == [
        ("fosstodon.org:9", "https://fosstodon.org/@ada@mastodon.social/9"),
        ("mastodon.social:101", "https://mastodon.social/@Ada/101"),
    ]
    assert list(Author.objects.values_list("platform", "handle")) == [("mastodon", "Ada@mastodon.social")]
    rep_services.recompute_all()

    out = io.StringIO()
    call_command("export_reputation", "-", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["platform"], r["author"], r["votes"]) for r in rows] == [("mastodon", "Ada@mastodon.social", "2")]


@pytest.mark.django_db
def test_import_refuses_a_mastodon_row_without_an_instance(tmp_path):
    with pytest.raises(CommandError, match="'ada' is not a valid Mastodon handle"):
        _import(tmp_path, ["mastodon,mastodon.social:1,ada,carol,1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z"])
    assert not Vote.objects.exists()


@pytest.mark.django_db
def test_the_demo_world_has_mastodon_authors_with_posts_and_reputations(tmp_path):
    call_command("seed_demo", stdout=io.StringIO())
    authors = Author.objects.filter(platform="mastodon")
    assert authors.count() >= 3 and any(a.handle.endswith("@fosstodon.org") for a in authors)
    for post in Post.objects.filter(platform="mastodon"):
        assert parse_post_url(post.url).post_id == post.external_id  # a stored link reads back as its post
    assert Vote.objects.filter(post__platform="mastodon").count() > 50
