"""The "Rate next" queue: Merit picks the posts, and only votes on its picks are solicited.

A vote is solicited when the server held an open assignment for that voter and post as the vote was
created; nothing a client sends makes it so. Solicited votes reach the engine's input, the import and
export files, and the API.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from reputation import data
from reputation.models import AuthorReputation
from votes import rate_next, services
from votes.models import Post, RateAssignment, Vote, VoteEvent

from .api_helpers import assert_problem, clear_local_cards, key_client, make_author, token_client  # noqa: F401

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def register(handle: str, n: int = 1, start: int = 1) -> list[Post]:
    return [services.post_register(url=f"https://x.com/{handle}/status/{i}") for i in range(start, start + n)]


def assign(user, post, *, ago: timedelta = timedelta(0)) -> RateAssignment:
    """An assignment as rate_next_assign issues them, for a post the test chooses."""
    return RateAssignment.objects.create(user=user, post=post, issued_at=timezone.now() - ago)


# --- Which votes are solicited -------------------------------------------------------------


def test_a_vote_on_a_post_merit_assigned_is_solicited_and_uses_up_the_assignment(alice):
    (post,) = register("writer")
    (picked,) = rate_next.rate_next_assign(user=alice, n=1)
    assert picked.post_id == post.pk

    vote = services.vote_cast(voter=alice, post=post, value=1)

    assert vote.solicited is True
    assert Vote.objects.get().solicited is True
    assert RateAssignment.objects.get().used_at == vote.created_at
    assert not rate_next.open_assignments(alice).exists()
    assert list(VoteEvent.objects.values_list("action", "solicited")) == [("cast", True)]


def test_a_vote_without_an_assignment_is_not_solicited(alice, post):
    assert services.vote_cast(voter=alice, post=post, value=1).solicited is False
    assert Vote.objects.get().solicited is False


def test_a_vote_after_the_assignment_expired_is_not_solicited(alice, post):
    stale = assign(alice, post, ago=rate_next.ASSIGNMENT_TTL + timedelta(seconds=1))
    assert services.vote_cast(voter=alice, post=post, value=1).solicited is False
    stale.refresh_from_db()
    assert stale.used_at is None


def test_an_assignment_of_another_post_or_to_another_voter_does_not_count(alice, bob):
    mine, other = register("writer", 2)
    assign(alice, other)
    assign(bob, mine)
    assert services.vote_cast(voter=alice, post=mine, value=1).solicited is False
    assert RateAssignment.objects.filter(used_at__isnull=True).count() == 2


def test_changing_a_solicited_vote_keeps_it_solicited_but_a_recast_after_retracting_is_not(alice, post):
    assign(alice, post)
    services.vote_cast(voter=alice, post=post, value=1)
    assert services.vote_cast(voter=alice, post=post, value=-1, reason="spam").solicited is True
    services.vote_retract(voter=alice, post=post)
    assert services.vote_cast(voter=alice, post=post, value=1).solicited is False  # the assignment was used
    events = list(VoteEvent.objects.order_by("pk").values_list("action", "solicited"))
    assert events == [("cast", True), ("changed", True), ("retracted", True), ("cast", False)]


def test_a_vote_that_existed_before_the_assignment_does_not_become_solicited(alice, post):
    services.vote_cast(voter=alice, post=post, value=1)
    assign(alice, post)
    assert services.vote_cast(voter=alice, post=post, value=-1).solicited is False


def test_a_self_vote_is_refused_even_with_an_assignment(alice, post):
    assign(alice, post)
    services.author_link(user=alice, platform="x", handle="writer")
    with pytest.raises(services.SelfVote):
        services.vote_cast(voter=alice, post=post, value=1)
    assert not Vote.objects.exists() and RateAssignment.objects.get().used_at is None


# --- What Merit picks ----------------------------------------------------------------------


def test_picks_leave_out_own_authors_rated_posts_and_picks_already_open(alice):
    own = register("alice_writes", 3)
    services.author_link(user=alice, platform="x", handle="alice_writes")
    rated = register("rated", 2, start=10)
    for post in rated:
        services.vote_cast(voter=alice, post=post, value=1)
    fresh = register("fresh", 1, start=20) + register("other", 1, start=30)

    first = rate_next.rate_next_assign(user=alice, n=1)
    second = rate_next.rate_next_assign(user=alice, n=5)

    picked = [a.post_id for a in second]
    assert picked[0] == first[0].post_id  # the open pick comes back first
    assert sorted(picked) == sorted(p.pk for p in fresh)  # nothing else is left to rate
    assert not {p.pk for p in own + rated} & set(picked)


def test_picks_leave_out_an_author_the_voter_has_a_pending_claim_on(alice):
    from votes import claims

    pending = register("maybe_alice", 2)
    claims.claim_start(user=alice, author=pending[0].author)  # no proof yet: its votes are refused all the same
    other = register("other", 1, start=30)

    picked = {a.post_id for a in rate_next.rate_next_assign(user=alice, n=5)}
    assert picked == {p.pk for p in other}


def test_asking_again_returns_the_same_picks_so_nobody_can_reroll_for_a_target(alice):
    for i in range(12):
        register(f"author{i}", 3, start=100 * i + 1)
    first = [a.post_id for a in rate_next.rate_next_assign(user=alice)]
    again = [a.post_id for a in rate_next.rate_next_assign(user=alice)]
    assert again == first and len(first) == rate_next.MAX_OPEN
    assert rate_next.open_assignments(alice).count() == rate_next.MAX_OPEN


def test_open_picks_are_capped_whatever_is_asked(alice):
    for i in range(12):
        register(f"author{i}", 1, start=i + 1)
    assert len(rate_next.rate_next_assign(user=alice, n=1000)) == rate_next.MAX_OPEN
    assert RateAssignment.objects.filter(user=alice).count() == rate_next.MAX_OPEN


def test_a_voted_pick_is_replaced_and_an_expired_one_is_dropped(alice):
    for i in range(8):
        register(f"author{i}", 1, start=i + 1)
    picks = rate_next.rate_next_assign(user=alice)
    services.vote_cast(voter=alice, post=Post.objects.get(pk=picks[0].post_id), value=1)
    RateAssignment.objects.filter(post_id=picks[1].post_id).update(issued_at=timezone.now() - timedelta(days=2))

    refilled = [a.post_id for a in rate_next.rate_next_assign(user=alice)]

    assert refilled[:3] == [a.post_id for a in picks[2:]] and len(refilled) == rate_next.MAX_OPEN
    assert picks[0].post_id not in refilled
    assert not RateAssignment.objects.filter(post_id=picks[1].post_id, issued_at__lt=timezone.now() - timedelta(days=1)).exists()


def test_one_post_per_author_so_registering_many_posts_does_not_crowd_the_sample(alice):
    register("prolific", 40)
    register("quiet", 1, start=500)
    picks = rate_next.rate_next_assign(user=alice, n=2)
    authors = Post.objects.filter(pk__in=[a.post_id for a in picks]).values_list("author__handle", flat=True)
    assert sorted(authors) == ["prolific", "quiet"]


def test_thin_evidence_weighs_more_but_at_most_a_bounded_factor():
    assert rate_next.author_weight(None, None, 0) == rate_next.MAX_AUTHOR_WEIGHT  # never scored
    settled = rate_next.author_weight(60.0, 60.0, 10_000)
    assert 1.0 <= settled < 1.01
    assert settled < rate_next.author_weight(40.0, 80.0, 30) < rate_next.MAX_AUTHOR_WEIGHT


def test_a_campaign_piling_votes_on_an_author_does_not_make_merit_ask_about_it_less():
    """Thinness counts solicited votes: 10,000 votes a campaign aimed leave the author as thin as before."""
    piled_on = rate_next.author_weight(55.0, 65.0, 0)
    assert piled_on == rate_next.MAX_AUTHOR_WEIGHT
    assert rate_next.author_weight(55.0, 65.0, 400) < 1.5  # asked about often enough: settled


def _first_picks(user, monkeypatch, draws: int = 400) -> list[int]:
    """The post a fresh queue offers first, over `draws` fresh queues (seeded: for the count only)."""
    monkeypatch.setattr(rate_next, "_random", random.Random(7))
    first = []
    for _ in range(draws):
        (pick,) = rate_next.rate_next_assign(user=user, n=1)
        first.append(pick.post_id)
        RateAssignment.objects.all().delete()
    return first


def test_a_contested_author_is_asked_about_until_it_has_four_times_the_solicited_votes():
    """A campaign makes Merit ask the population about its target more, never less."""
    quiet, contested = rate_next.author_weight(55.0, 65.0, 40), rate_next.author_weight(55.0, 65.0, 40, "contested")
    assert quiet < contested
    assert contested == rate_next.author_weight(55.0, 65.0, 10, "ok")  # 40 count as 10
    assert rate_next.author_weight(55.0, 65.0, 40, "under_review") == contested
    assert rate_next.author_weight(55.0, 65.0, 4000, "contested") < 1.5  # enough votes nobody aimed: settled


def test_picks_lean_toward_contested_authors(alice, monkeypatch):
    (quiet,) = register("quiet")
    (contested,) = register("contested", start=2)
    for post, status in ((quiet, "ok"), (contested, "contested")):
        AuthorReputation.objects.create(author=post.author, low=50, high=60, upvotes=90, downvotes=10, voters=100,
                                        status=status, explanation={"solicited": {"votes": 40, "weight": 30.0}})
    first = _first_picks(alice, monkeypatch)
    # Weights 2.5 : 1.6 (40 solicited votes count as 10 for the contested author): about 61% of first picks.
    assert 0.53 < first.count(contested.pk) / len(first) < 0.7


def test_picks_lean_toward_authors_with_thin_evidence(alice, monkeypatch):
    (settled,) = register("settled")
    (thin,) = register("thin", start=2)
    AuthorReputation.objects.create(author=settled.author, low=59, high=61, upvotes=900, downvotes=100, voters=1000,
                                    explanation={"solicited": {"votes": 1000, "weight": 700.0}})
    first = _first_picks(alice, monkeypatch)
    # Weights 4 : 1.06 make the thin author the first pick about 79% of the time.
    assert 0.7 < first.count(thin.pk) / len(first) < 0.9


def test_the_draws_use_the_operating_systems_randomness():
    assert isinstance(rate_next._random, random.SystemRandom)


# --- The web page ----------------------------------------------------------------------------


def test_the_rate_next_page_needs_an_account(client):
    response = client.get(reverse("rate-next"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_page_explains_the_picks_and_a_vote_cast_there_without_javascript_is_solicited(client, alice):
    (post,) = register("writer")
    client.force_login(alice)

    page = client.get(reverse("rate-next"))

    body = page.content.decode()
    assert page.status_code == 200
    assert "votes you cast here count as a random sample, which fake accounts cannot steer" in body
    assert f'action="{reverse("vote", args=[post.pk])}"' in body
    assert f'name="next" value="{reverse("rate-next")}"' in body
    assert f'href="{reverse("rate-next")}" aria-current="page"' in body  # in the nav

    voted = client.post(reverse("vote", args=[post.pk]), {"value": "1", "next": reverse("rate-next")}, follow=True)

    assert voted.redirect_chain[0][0].startswith(reverse("rate-next"))
    assert "in Merit’s random sample" in voted.content.decode()
    assert Vote.objects.get().solicited is True
    assert "You’re all caught up" in voted.content.decode()  # nothing else to rate


def test_a_vote_from_the_page_with_htmx_answers_the_vote_box(client, alice):
    (post,) = register("writer")
    client.force_login(alice)
    client.get(reverse("rate-next"))
    response = client.post(reverse("vote", args=[post.pk]), {"value": "-1", "reason": "spam",
                                                              "next": reverse("rate-next")}, **HTMX)
    assert response.status_code == 200
    assert 'class="vote-box has-vote"' in response.content.decode()
    assert "random sample" in response.content.decode()
    assert Vote.objects.get().solicited is True


def test_a_form_field_cannot_make_a_vote_solicited(client, alice, post):
    client.force_login(alice)
    client.post(reverse("vote", args=[post.pk]), {"value": "1", "solicited": "1"})
    assert Vote.objects.get().solicited is False


# --- The API ---------------------------------------------------------------------------------

RATE_NEXT_KEYS = {"platform", "post_id", "author", "url", "quality", "upvotes", "downvotes", "preview", "expires_at"}


def test_the_api_hands_out_picks_and_a_vote_on_one_says_it_was_solicited(alice):
    (post,) = register("writer")
    client, _ = token_client(alice)

    response = client.get("/api/v1/rate-next")

    assert response.status_code == 200
    body = response.json()
    assert "fake accounts cannot steer" in body["about"] and body["page_url"].endswith("/rate-next/")
    (card,) = body["results"]
    assert set(card) == RATE_NEXT_KEYS and (card["post_id"], card["author"]) == (post.external_id, "writer")
    assert response["Cache-Control"] == "private, no-cache"
    assert client.get("/api/v1/rate-next", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304

    cast = client.post("/api/v1/votes", {"url": card["url"], "value": 1}, format="json")
    assert cast.status_code == 201 and cast.json()["solicited"] is True
    listed = client.get("/api/v1/votes").json()["results"]
    assert [(v["post_id"], v["solicited"]) for v in listed] == [(post.external_id, True)]
    assert client.get("/api/v1/rate-next").json()["results"] == []


def test_a_client_cannot_claim_a_vote_was_solicited(alice, post):
    client, _ = token_client(alice)
    body = {"url": post.url, "value": 1, "solicited": True}
    problem = assert_problem(client.post("/api/v1/votes", body, format="json"), 400)
    assert problem["errors"][0]["pointer"] == "#/solicited"
    assert not Vote.objects.exists()
    assert client.post("/api/v1/votes", {"url": post.url, "value": 1}, format="json").json()["solicited"] is False


def test_the_api_queue_is_personal(db):
    assert_problem(APIClient().get("/api/v1/rate-next"), 401)
    assert_problem(key_client().get("/api/v1/rate-next"), 403)


def test_an_author_card_says_how_much_of_its_evidence_was_solicited():
    make_author("counted", upvotes=8, downvotes=2, explanation={"votes": 10, "solicited": {"votes": 4, "weight": 3.5}})
    assert APIClient().get("/api/v1/authors/x/counted").json()["solicited_share"] == 0.4


def test_without_the_engines_count_the_card_counts_the_solicited_votes_itself(alice, bob):
    writer = make_author("writer", upvotes=1, downvotes=1, explanation={})
    first, second = (services.post_register(url=f"https://x.com/writer/status/{i}") for i in (1, 2))
    assign(alice, first)
    services.vote_cast(voter=alice, post=first, value=1)
    services.vote_cast(voter=bob, post=second, value=-1)
    assert writer.votes.filter(solicited=True).count() == 1
    client = APIClient()
    assert client.get("/api/v1/authors/x/writer").json()["solicited_share"] == 0.5
    assert client.get("/api/v1/authors", {"handles": "writer"}).json()["results"]["writer"]["solicited_share"] == 0.5
    assert client.get("/api/v1/authors/search", {"q": "wri"}).json()["results"][0]["solicited_share"] == 0.5
    assert client.get("/api/v1/leaderboard").json()["results"][0]["solicited_share"] == 0.5


# --- Import, engine input, export ----------------------------------------------------------

HEADER = "platform,post_id,author,voter,value,created_at,voter_joined_at,solicited"


def test_a_solicited_vote_round_trips_through_import_engine_input_and_export(tmp_path):
    rows = [
        "x,1790000000000000101,writer,carol,1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z,1",
        "x,1790000000000000102,writer,dave,-1,2025-01-11T10:00:00Z,2024-06-01T08:30:00Z,0",
        "x,1790000000000000103,writer,erin,1,2025-01-12T10:00:00Z,2024-06-01T08:30:00Z,1",
        "x,1790000000000000104,other,carol,1,2025-01-12T10:00:00Z,2024-01-01T00:00:00Z,0",
    ]
    path = tmp_path / "votes.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")

    call_command("import_votes", str(path), "--recompute", stdout=io.StringIO(), stderr=io.StringIO())

    solicited = Vote.objects.filter(solicited=True)
    assert sorted(solicited.values_list("voter__username", flat=True)) == ["carol", "erin"]
    assert VoteEvent.objects.filter(solicited=True, source="import").count() == 2
    loaded = data.load_votes()
    by_vote = {(int(v), int(p)): bool(s) for v, p, s in zip(loaded.voter, loaded.post, loaded.solicited)}
    assert by_vote == {(v.voter_id, v.post_id): v.solicited for v in Vote.objects.all()}

    out = io.StringIO()
    call_command("export_reputation", "-", stdout=out)
    exported = {r["author"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert (exported["writer"]["solicited_votes"], exported["other"]["solicited_votes"]) == ("2", "0")
