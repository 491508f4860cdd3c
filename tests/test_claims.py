"""Handle ownership, proved: a claim shows a one-time code, a post carrying it from the account verifies it.

Personas: alice claims @writer; bob is anyone else. Proof posts are served by tests/fake_platform.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from reputation import data
from tests import fake_platform as fake_server
from tests.api_helpers import clear_local_cards  # noqa: F401  (fixture: each process keeps cards 15 s)
from votes import claims, services
from votes.models import Author, ClaimStatus, HandleClaim, Vote

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clear_local_cards")]
fake_platform = fake_server.fake_platform  # the fixture
PROOF = "https://x.com/writer/status/1790000000000000001"  # X ids carry their time: this one is 2024-05-13
NEWER_PROOF = "https://x.com/writer/status/1800000000000000000"  # 2024-06-10
OLDER_PROOF = "https://x.com/writer/status/1780000000000000000"  # 2024-04-15


@pytest.fixture
def writer(db):
    return services.post_register(url="https://x.com/writer/status/1700000000000000000").author


def post_proof(fake, url: str, code: str, *, handle: str = "writer") -> None:
    fake.x_post(url, text_html=f"Verifying my Merit account: {code}", name="The Writer", handle=handle)


def prove(fake, user, author, url: str = PROOF) -> HandleClaim:
    claim = claims.claim_start(user=user, author=author)
    post_proof(fake, url, claim.code)
    return claims.claim_verify(user=user, author=author, proof_url=url)


# --- Starting a claim ------------------------------------------------------------------


def test_a_claim_shows_a_one_time_code_and_changes_nothing_else(alice, writer):
    claim = claims.claim_start(user=alice, author=writer)
    assert claim.status == ClaimStatus.PENDING
    assert claim.code.startswith("merit-") and len(claim.code) == len("merit-") + 8
    assert timedelta(days=6, hours=23) < claim.expires_at - timezone.now() <= timedelta(days=7)
    assert claims.claim_start(user=alice, author=writer).code == claim.code  # asked again: the same code
    writer.refresh_from_db()
    assert writer.owner_id is None
    assert APIClient().get("/api/v1/authors/x/writer").json()["verified"] is False


def test_codes_are_different_for_every_claim(alice, bob, writer):
    assert claims.claim_start(user=alice, author=writer).code != claims.claim_start(user=bob, author=writer).code


def test_an_unverified_claim_blocks_nobody_else_and_gives_no_standing(alice, bob, writer):
    claims.claim_start(user=alice, author=writer)
    post = writer.posts.get()
    services.vote_cast(voter=bob, post=post, value=1)  # bob votes as before
    bob_claim = claims.claim_start(user=bob, author=writer)  # and may claim it too
    assert bob_claim.status == ClaimStatus.PENDING
    loaded = data.load_votes()
    assert loaded.owned_author.tolist() == []  # the engine sees no owner


def test_the_claimers_own_pending_claim_refuses_their_votes_until_it_lapses(alice, writer):
    claim = claims.claim_start(user=alice, author=writer)
    post = writer.posts.get()
    with pytest.raises(services.SelfVote, match="cannot vote on its posts"):
        services.vote_cast(voter=alice, post=post, value=1)
    assert not Vote.objects.exists()
    HandleClaim.objects.filter(pk=claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1),
                                                   created_at=timezone.now() - timedelta(days=8))
    services.vote_cast(voter=alice, post=post, value=1)
    assert Vote.objects.filter(voter=alice).exists()


def test_a_lapsed_claim_is_marked_expired_and_a_new_claim_gets_a_fresh_code(alice, writer):
    old = claims.claim_start(user=alice, author=writer)
    HandleClaim.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8),
                                                 expires_at=timezone.now() - timedelta(days=1))
    with pytest.raises(claims.ClaimError, match="no open claim"):
        claims.claim_verify(user=alice, author=writer, proof_url=PROOF)
    fresh = claims.claim_start(user=alice, author=writer)
    assert fresh.code != old.code
    old.refresh_from_db()
    assert old.status == ClaimStatus.EXPIRED
    HandleClaim.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(days=8),
                                                   expires_at=timezone.now() - timedelta(days=1))
    assert claims.claims_expire() == 1


# --- Proving it --------------------------------------------------------------------------


def test_a_proof_post_with_the_code_from_the_account_verifies_the_claim(fake_platform, alice, writer):
    claim = prove(fake_platform, alice, writer)
    writer.refresh_from_db()
    assert claim.status == ClaimStatus.VERIFIED and claim.proof_url == PROOF
    assert writer.owner_id == alice.pk and writer.owner_verified_at == claim.verified_at
    card = APIClient().get("/api/v1/authors/x/writer").json()
    assert card["verified"] is True and card["verified_since"].startswith(str(claim.verified_at.date()))
    loaded = data.load_votes()
    assert loaded.owned_author.tolist() == [writer.pk] and loaded.owner_voter.tolist() == [alice.pk]


@pytest.mark.parametrize(("setup", "message"), [
    (lambda fake, code: post_proof(fake, PROOF, code, handle="someone_else"), "by @someone_else, not @writer"),
    (lambda fake, code: post_proof(fake, PROOF, "merit-wrongcode"), "does not contain your code"),
    (lambda fake, code: fake.x_post(PROOF, text_html="", name="", handle="writer", status=404), "deleted or private"),
    (lambda fake, code: fake.answer("/oembed", status=503), "did not answer just now"),
])
def test_a_proof_that_does_not_hold_is_refused_and_changes_nothing(fake_platform, alice, writer, setup, message):
    claim = claims.claim_start(user=alice, author=writer)
    setup(fake_platform, claim.code)
    with pytest.raises(claims.ClaimError, match=message):
        claims.claim_verify(user=alice, author=writer, proof_url=PROOF)
    claim.refresh_from_db()
    writer.refresh_from_db()
    assert (claim.status, writer.owner_id) == (ClaimStatus.PENDING, None)


@pytest.mark.parametrize(("url", "message"), [
    ("not a link", "not a link to a post|not a link|supported site"),
    ("https://bsky.app/profile/writer.bsky.social/post/3kabc123", "must be a post on X"),
])
def test_a_proof_link_that_is_not_a_post_on_the_platform_is_refused(alice, writer, url, message):
    claims.claim_start(user=alice, author=writer)
    with pytest.raises(claims.ClaimError, match=message):
        claims.claim_verify(user=alice, author=writer, proof_url=url)


def test_a_bluesky_claim_is_proved_by_a_post_from_the_handle(fake_platform, alice):
    author = services.post_register(url="https://bsky.app/profile/writer.bsky.social/post/3kfirst1").author
    claim = claims.claim_start(user=alice, author=author)
    fake_platform.bluesky_post("writer.bsky.social", "3kproof1", text=f"merit proof {claim.code}", name="W",
                               indexed="2026-03-01T12:00:00.000Z")
    claims.claim_verify(user=alice, author=author, proof_url="https://bsky.app/profile/writer.bsky.social/post/3kproof1")
    author.refresh_from_db()
    assert author.owner_id == alice.pk


def test_a_mastodon_claim_is_proved_by_a_status_from_the_account(fake_platform, alice):
    author = services.post_register(url="https://mastodon.social/@writer/1").author
    claim = claims.claim_start(user=alice, author=author)
    fake_platform.mastodon_status("mastodon.social", "2", content=f"<p>proof: {claim.code}</p>", acct="writer", name="W")
    claims.claim_verify(user=alice, author=author, proof_url="https://mastodon.social/@writer/2")
    author.refresh_from_db()
    assert author.owner_id == alice.pk


# --- Transfers ------------------------------------------------------------------------------


def test_a_newer_proof_from_the_same_account_transfers_a_verified_claim(fake_platform, alice, bob, writer):
    first = prove(fake_platform, alice, writer, PROOF)
    second = prove(fake_platform, bob, writer, NEWER_PROOF)
    first.refresh_from_db()
    writer.refresh_from_db()
    assert (first.status, second.status, writer.owner_id) == (ClaimStatus.SUPERSEDED, ClaimStatus.VERIFIED, bob.pk)


def test_an_older_proof_cannot_take_a_verified_claim(fake_platform, alice, bob, writer):
    prove(fake_platform, alice, writer, PROOF)
    with pytest.raises(claims.ClaimError, match="verified by a proof posted after this one"):
        prove(fake_platform, bob, writer, OLDER_PROOF)
    writer.refresh_from_db()
    assert writer.owner_id == alice.pk


def test_a_verified_owner_cannot_claim_again(fake_platform, alice, writer):
    prove(fake_platform, alice, writer)
    with pytest.raises(claims.ClaimError, match="already verified as yours"):
        claims.claim_start(user=alice, author=writer)


# --- Invariants in the database ----------------------------------------------------------------


def test_the_database_allows_one_verified_claim_per_author(alice, bob, writer):
    now = timezone.now()
    fields = {"author": writer, "status": ClaimStatus.VERIFIED, "created_at": now, "expires_at": now + timedelta(days=7),
              "verified_at": now, "proof_posted_at": now}
    HandleClaim.objects.create(user=alice, code="merit-aaaaaaaa", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        HandleClaim.objects.create(user=bob, code="merit-bbbbbbbb", **fields)


def test_the_database_refuses_an_owner_without_a_verified_time_and_a_verified_claim_without_proof(alice, writer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Author.objects.filter(pk=writer.pk).update(owner=alice)
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        HandleClaim.objects.create(author=writer, user=alice, code="merit-cccccccc", status=ClaimStatus.VERIFIED,
                                   created_at=now, expires_at=now + timedelta(days=7))


# --- The pages ----------------------------------------------------------------------------------


def test_the_author_page_walks_the_claimer_through_the_proof(fake_platform, client, alice, writer):
    client.force_login(alice)
    page = client.post(reverse("author-claim", args=["x", "writer"]), follow=True).content.decode()
    claim = HandleClaim.objects.get(user=alice)
    assert claim.code in page and "Link of the post with the code" in page
    post_proof(fake_platform, PROOF, claim.code)
    page = client.post(reverse("author-claim-verify", args=["x", "writer"]), {"proof_url": PROOF}, follow=True)
    text = page.content.decode()
    assert "Verified: @writer is yours" in text and "Verified owner since" in text


def test_a_refused_proof_says_why_on_the_page(fake_platform, client, alice, writer):
    client.force_login(alice)
    client.post(reverse("author-claim", args=["x", "writer"]))
    page = client.post(reverse("author-claim-verify", args=["x", "writer"]), {"proof_url": PROOF}, follow=True)
    assert "deleted or private" in page.content.decode()  # the fake knows no such post
    assert Author.objects.get(pk=writer.pk).owner_id is None


def test_claim_steps_need_a_login_and_a_known_author(client, alice, writer):
    response = client.post(reverse("author-claim-verify", args=["x", "writer"]), {"proof_url": PROOF})
    assert response.status_code == 302 and reverse("login") in response["Location"]
    client.force_login(alice)
    assert client.post(reverse("author-claim-verify", args=["x", "nobody"]), {"proof_url": PROOF}).status_code == 404
    assert client.get(reverse("author-claim-verify", args=["x", "writer"])).status_code == 405
    assert not HandleClaim.objects.exists()


def test_a_stranger_sees_no_code_and_an_unverified_claim_is_not_shown(client, alice, bob, writer):
    claims.claim_start(user=alice, author=writer)
    client.force_login(bob)
    page = client.get(reverse("author", args=["x", "writer"])).content.decode()
    assert HandleClaim.objects.get(user=alice).code not in page
    assert "Verified owner" not in page and "This is me" in page


def test_proof_attempts_are_limited_per_account(fake_platform, client, settings, alice, writer):
    settings.CLAIM_VERIFY_RATE = "2/h"
    client.force_login(alice)
    client.post(reverse("author-claim", args=["x", "writer"]))
    url = reverse("author-claim-verify", args=["x", "writer"])
    for _ in range(2):
        client.post(url, {"proof_url": PROOF})
    fetched = fake_platform.hits("/oembed")
    page = client.post(url, {"proof_url": PROOF}, follow=True).content.decode()
    assert "Too many proof attempts" in page
    assert fake_platform.hits("/oembed") == fetched == 2  # the refused attempt fetched nothing
