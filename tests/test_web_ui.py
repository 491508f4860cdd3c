"""The web voting interface, as a person uses it: pages, forms, htmx partials and refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from reputation.models import AuthorReputation, ReputationSnapshot
from votes import services
from votes.models import Author, Post, Vote, VoteEvent
from votes.selectors import HistoryPoint
from votes.templatetags.merit import compact, history_chart

pytestmark = pytest.mark.django_db
User = get_user_model()
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def vote_url(post) -> str:
    return reverse("vote", args=[post.pk])


def text(response) -> str:
    return response.content.decode()


# --- Accounts ---------------------------------------------------------------


def test_it_signs_up_a_new_account_and_logs_it_in(client):
    response = client.post(
        reverse("signup"),
        {"username": "carol", "password1": "a-long-passphrase-42", "password2": "a-long-passphrase-42"},
        follow=True,
    )
    assert response.status_code == 200
    assert User.objects.filter(username="carol").exists()
    assert response.context["user"].username == "carol"
    assert "Welcome to Merit, carol" in text(response)


def test_it_refuses_a_signup_whose_passwords_differ_and_creates_nothing(client):
    response = client.post(
        reverse("signup"), {"username": "carol", "password1": "a-long-passphrase-42", "password2": "something-else-42"}
    )
    assert response.status_code == 400
    assert "didn’t match" in text(response) or "didn't match" in text(response)
    assert not User.objects.filter(username="carol").exists()


def test_it_logs_in_with_the_password_and_logs_out_with_a_post(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 302 and response.url == reverse("feed")
    assert "alice" in text(client.get(reverse("feed")))

    assert client.get(reverse("logout")).status_code == 405  # a link cannot log anyone out
    response = client.post(reverse("logout"), follow=True)
    assert not response.context["user"].is_authenticated


def test_a_wrong_password_shows_a_message_on_the_login_page(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "enter a correct username and password" in text(response)


# --- Feed and pasting a post link -------------------------------------------


def test_the_feed_lists_recent_posts_newest_first_with_links_to_their_authors(client):
    older = services.post_register(url="https://x.com/first_author/status/100")
    newer = services.post_register(url="https://x.com/second_author/status/200")
    Post.objects.filter(pk=older.pk).update(first_seen=timezone.now() - timedelta(hours=1))

    page = text(client.get(reverse("feed")))
    assert page.index("@second_author") < page.index("@first_author")
    assert reverse("author", args=["x", "first_author"]) in page
    assert f'id="post-{newer.pk}"' in page


def test_the_feed_highlights_the_signed_in_users_own_vote(alice_client, alice, post):
    services.vote_cast(voter=alice, post=post, value=1)
    page = text(alice_client.get(reverse("feed")))
    assert "vote-up is-on" in page
    assert 'aria-pressed="true"' in page


def test_the_nav_links_every_section_including_the_extension_and_api_docs(client):
    page = text(client.get(reverse("feed")))
    for href in (reverse("feed"), reverse("leaderboard"), reverse("my-votes"), "/connect/", "/api/v1/docs/"):
        assert f'href="{href}"' in page


def test_pasting_a_good_link_registers_the_post_and_lands_on_it_ready_to_vote(alice_client):
    response = alice_client.post(reverse("rate"), {"url": "https://twitter.com/Someone/status/1234567890?s=20"})
    post = Post.objects.get()
    assert response.status_code == 302 and response.url == reverse("post", args=[post.pk])
    assert post.url == "https://x.com/Someone/status/1234567890"

    page = text(alice_client.get(response.url))
    assert "@Someone" in page
    assert f'action="{vote_url(post)}"' in page


def test_pasting_the_same_link_twice_lands_on_the_same_post(alice_client, post):
    response = alice_client.post(reverse("rate"), {"url": post.url + "?ref=share"})
    assert response.url == reverse("post", args=[post.pk])
    assert Post.objects.count() == 1


@pytest.mark.parametrize(
    "url, message",
    [
        ("https://x.com/writer", "does not point at a single post"),
        ("https://example.com/writer/status/1", "is not a supported site"),
        ("", "This field is required"),
        ("[", "That is not a link"),
        ("https://x.com/i/web/status/1790000000000000001", "do not say who wrote the post"),
    ],
)
def test_a_bad_link_shows_a_clear_message_and_registers_nothing(alice_client, url, message):
    response = alice_client.post(reverse("rate"), {"url": url})
    assert response.status_code == 400
    assert message in text(response)
    assert Post.objects.count() == 0 and Author.objects.count() == 0


def test_a_link_claiming_a_known_post_for_another_author_is_refused_and_changes_nothing(alice_client, post):
    response = alice_client.post(reverse("rate"), {"url": "https://x.com/impostor/status/1790000000000000001"})
    assert response.status_code == 409
    assert "already registered as a post by @writer" in text(response)
    assert Post.objects.get().author.handle == "writer"
    assert not Author.objects.filter(handle="impostor").exists()


def test_pasting_a_link_while_logged_out_asks_to_log_in_first(client):
    response = client.post(reverse("rate"), {"url": "https://x.com/writer/status/5"})
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert Post.objects.count() == 0


# --- Voting ------------------------------------------------------------------


def test_a_plain_form_vote_is_saved_and_redirects_back_with_a_message(alice_client, alice, post):
    response = alice_client.post(vote_url(post), {"value": "1", "next": "/"})
    assert response.status_code == 302 and response.url == f"/#post-{post.pk}"
    assert Vote.objects.get(voter=alice, post=post).value == 1
    assert "counted as a good post" in text(alice_client.get("/"))


def test_an_htmx_vote_answers_the_vote_box_alone_with_the_vote_highlighted(alice_client, alice, post):
    response = alice_client.post(vote_url(post), {"value": "-1", "reason": "misleading", "next": "/"}, **HTMX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body and f'id="vote-{post.pk}"' in body
    assert "vote-down is-on" in body and "· Misleading" in body
    vote = Vote.objects.get(voter=alice, post=post)
    assert (vote.value, vote.reason) == (-1, "misleading")


def test_changing_a_vote_keeps_one_vote_and_logs_the_change(alice_client, alice, post):
    alice_client.post(vote_url(post), {"value": "1"}, **HTMX)
    alice_client.post(vote_url(post), {"value": "-1", "reason": "spam"}, **HTMX)
    assert Vote.objects.get(voter=alice, post=post).value == -1
    assert list(VoteEvent.objects.order_by("pk").values_list("action", flat=True)) == ["cast", "changed"]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_retracting_removes_the_vote(alice_client, alice, post, headers):
    services.vote_cast(voter=alice, post=post, value=1)
    response = alice_client.post(vote_url(post), {"retract": "1", "next": "/"}, **headers)
    assert response.status_code in (200, 302)
    assert not Vote.objects.filter(voter=alice, post=post).exists()
    if headers:
        assert "Vote retracted" in text(response)
    else:
        assert "Vote retracted" in text(alice_client.get("/"))


def test_a_vote_on_your_own_linked_handle_is_refused_in_place_and_changes_nothing(alice_client, alice, post):
    services.author_link(user=alice, platform="x", handle="writer")
    response = alice_client.post(vote_url(post), {"value": "1"}, **HTMX)
    assert response.status_code == 403
    assert "you cannot vote on its posts" in text(response)
    assert not Vote.objects.exists()


def test_a_refused_plain_vote_redirects_back_with_the_reason(alice_client, alice, post):
    services.author_link(user=alice, platform="x", handle="writer")
    response = alice_client.post(vote_url(post), {"value": "1", "next": "/"}, follow=True)
    assert "you cannot vote on its posts" in text(response)
    assert not Vote.objects.exists()


@pytest.mark.parametrize("value", ["7", "0", "up"])
def test_a_vote_that_is_not_plus_or_minus_one_is_refused(alice_client, post, value):
    response = alice_client.post(vote_url(post), {"value": value}, **HTMX)
    assert response.status_code == 400
    assert "A vote is 1 (good post) or -1 (poor post)" in text(response)
    assert not Vote.objects.exists()


def test_a_reason_on_an_upvote_is_refused(alice_client, post):
    response = alice_client.post(vote_url(post), {"value": "1", "reason": "spam"}, **HTMX)
    assert response.status_code == 400
    assert "only be given with a downvote" in text(response)


def test_an_anonymous_vote_goes_to_login_and_comes_back_to_the_page(client, post):
    response = client.post(vote_url(post), {"value": "1", "next": "/?page=2"})
    assert response.status_code == 302
    assert response.url == reverse("login") + "?next=%2F%3Fpage%3D2"
    assert not Vote.objects.exists()

    response = client.post(vote_url(post), {"value": "1", "next": "/"}, **HTMX)
    assert response["HX-Redirect"] == reverse("login") + "?next=%2F"


def test_a_vote_never_redirects_to_another_site(alice_client, post):
    response = alice_client.post(vote_url(post), {"value": "1", "next": "https://evil.example/"})
    assert response.url == reverse("post", args=[post.pk]) + f"#post-{post.pk}"


def test_voting_is_post_only(alice_client, post):
    assert alice_client.get(vote_url(post)).status_code == 405


# --- Author page --------------------------------------------------------------


@pytest.fixture
def rated_author(post):
    author = post.author
    Author.objects.filter(pk=author.pk).update(follower_count=12345)
    AuthorReputation.objects.create(
        author=author, score=72.4, low=61.2, high=81.9, upvotes=30, downvotes=4, voters=21,
        effective_voters=14.3, status="established", percentile=88.0, algorithm="test-engine",
        updated_at=timezone.now(),
        explanation={"votes": 34, "voters": 21, "effective_voters": 14.3, "counted_weight": 17.5,
                     "raw_weight": 34.0, "prior_votes": 5.0,
                     "discounted": {"new_or_low_credibility_accounts": 12.5, "per_voter_cap": 4.0}},
    )
    today = timezone.now().date()
    for days_ago, score in ((20, 55.0), (10, 63.0), (1, 70.0)):
        ReputationSnapshot.objects.create(
            author=author, day=today - timedelta(days=days_ago), score=score, low=score - 12, high=score + 12, votes=10
        )
    author.refresh_from_db()
    return author


def test_the_author_page_shows_score_interval_counts_followers_explanation_and_a_chart(client, rated_author):
    page = text(client.get(reverse("author", args=["x", "writer"])))
    assert "72.4" in page and "61.2–81.9" in page
    assert "34" in page and "21" in page and "as much evidence as about 14 unrelated people" in page
    assert "12.3k" in page and "says nothing about quality" in page
    assert "About 13 votes held back: they came from new accounts" in page  # plain words, no engine keys
    assert "<svg" in page and 'class="chart-band"' in page and 'class="chart-line"' in page


def test_the_author_page_says_not_enough_votes_instead_of_a_number(client, post):
    AuthorReputation.objects.create(author=post.author, score=55.0, low=20, high=85, upvotes=1, voters=1,
                                    status="insufficient_data", updated_at=timezone.now())
    page = text(client.get(reverse("author", args=["x", "writer"])))
    assert "Not enough votes yet" in page
    assert "55.0" not in page


def test_the_author_page_lists_recent_posts_with_vote_buttons(client, post):
    page = text(client.get(reverse("author", args=["x", "writer"])))
    assert f'action="{vote_url(post)}"' in page


def test_the_author_address_is_case_insensitive_and_redirects_to_the_canonical_handle(client, post):
    response = client.get(reverse("author", args=["x", "WRITER"]))
    assert response.status_code == 302 and response.url == reverse("author", args=["x", "writer"])


def test_an_unknown_author_gets_the_designed_404_page(client, db):
    response = client.get(reverse("author", args=["x", "nobody_here"]))
    assert response.status_code == 404
    assert "We couldn’t find that page" in text(response)
    assert client.get(reverse("author", args=["myspace", "tom"])).status_code == 404


def test_this_is_me_starts_a_claim_and_only_the_claimers_own_votes_are_refused(alice_client, alice, post):
    response = alice_client.post(reverse("author-claim", args=["x", "writer"]), follow=True)
    assert "Now post merit-" in text(response)  # the code to post; the claim proves nothing yet (tests/test_claims.py)
    assert Author.objects.get(handle="writer").owner is None
    assert "You have claimed this handle (the proof post is still to come)" in text(
        alice_client.get(reverse("post", args=[post.pk])))
    alice_client.post(vote_url(post), {"value": "1"})
    assert not Vote.objects.exists()


def test_this_is_me_beside_a_verified_owner_starts_a_claim_that_changes_nothing(client, alice, bob, post):
    services.author_link(user=bob, platform="x", handle="writer")
    client.force_login(alice)
    response = client.post(reverse("author-claim", args=["x", "writer"]), follow=True)
    assert "Now post merit-" in text(response)
    assert Author.objects.get(handle="writer").owner == bob


# --- Leaderboard and my votes ----------------------------------------------------


def test_the_leaderboard_ranks_by_score_and_leaves_out_authors_with_too_few_votes(client):
    for handle, score, status in (("middling", 55.0, "provisional"), ("best", 81.0, "established"),
                                  ("worst", 22.0, "established"), ("unknown", 99.0, "insufficient_data")):
        author = services.author_get_or_create(platform="x", handle=handle)
        AuthorReputation.objects.create(author=author, score=score, low=score - 10, high=score + 1, upvotes=5,
                                        status=status, updated_at=timezone.now())
    page = text(client.get(reverse("leaderboard")))
    assert page.index("@best") < page.index("@middling") < page.index("@worst")
    assert "@unknown" not in page


def test_my_votes_lists_only_my_votes_newest_first_with_change_and_retract(alice_client, alice, bob):
    first = services.post_register(url="https://x.com/early_bird/status/1")
    second = services.post_register(url="https://x.com/late_owl/status/2")
    services.vote_cast(voter=alice, post=first, value=1)
    services.vote_cast(voter=alice, post=second, value=-1, reason="spam")
    services.vote_cast(voter=bob, post=services.post_register(url="https://x.com/bobs_pick/status/3"), value=1)

    page = text(alice_client.get(reverse("my-votes")))
    assert page.index("@late_owl") < page.index("@early_bird")
    assert "@bobs_pick" not in page
    assert 'name="retract"' in page and "vote-down is-on" in page


def test_my_votes_needs_an_account(client, db):
    response = client.get(reverse("my-votes"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


# --- Presentation helpers ----------------------------------------------------------


def test_follower_counts_are_shown_compactly():
    assert [compact(n) for n in (95, 1000, 12345, 2_400_000, None)] == ["95", "1k", "12.3k", "2.4M", ""]


def test_the_history_chart_handles_no_history_one_day_and_many_days():
    today = timezone.now().date()
    assert "No history yet" in history_chart([])
    one = history_chart([HistoryPoint(today, 60.0, 50.0, 70.0, 3)])
    assert one.startswith("<svg") and "<rect" in one and "<polyline" not in one
    many = history_chart([HistoryPoint(today - timedelta(days=d), 50.0 + d, 40.0, 75.0, 3) for d in (9, 5, 0)])
    assert "<polygon" in many and "<polyline" in many and "now 50" in many


def test_pages_render_for_anonymous_visitors(client, post):
    for url in (reverse("feed"), reverse("leaderboard"), reverse("login"), reverse("signup"),
                reverse("post", args=[post.pk]), reverse("author", args=["x", "writer"])):
        assert client.get(url).status_code == 200, url


def test_this_is_me_cannot_create_an_author_that_is_not_on_merit(alice_client, db):
    assert alice_client.post(reverse("author-claim", args=["x", "made_up"])).status_code == 404
    assert not Author.objects.exists()
