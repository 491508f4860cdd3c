"""Casting, changing and retracting votes; refused actions change nothing."""

import pytest
from django.utils import timezone

from reputation.models import PendingRefresh
from votes import services
from votes.models import Author, Post, Vote, VoteEvent

pytestmark = pytest.mark.django_db


def test_it_registers_a_post_from_its_url():
    post = services.post_register(url="https://twitter.com/Writer/status/1790000000000000001?s=20")
    assert post.platform == "x"
    assert post.external_id == "1790000000000000001"
    assert post.author.handle == "Writer"
    assert post.url == "https://x.com/Writer/status/1790000000000000001"


def test_handles_are_unique_per_platform_case_insensitively():
    a = services.post_register(url="https://x.com/Writer/status/1")
    b = services.post_register(url="https://x.com/WRITER/status/2")
    assert a.author_id == b.author_id
    assert Author.objects.count() == 1


def test_registering_a_known_post_returns_it_with_its_author_as_stored(alice):
    first = services.post_register(url="https://x.com/Writer/status/7")
    Author.objects.filter(pk=first.author_id).update(follower_count=1200, owner=alice, owner_verified_at=timezone.now())
    again = services.post_register(url="https://x.com/writer/status/7")
    assert (again.pk, again.author_id, again.url) == (first.pk, first.author_id, first.url)
    stored = Author.objects.get()
    assert (again.author.handle, again.author.follower_count, again.author.owner_id) == ("Writer", 1200, alice.pk)
    assert again.author.first_seen == stored.first_seen


def test_it_refuses_to_reattribute_a_post_to_another_author():
    services.post_register(url="https://x.com/writer/status/5")
    with pytest.raises(services.AuthorConflict, match="already registered as a post by @writer"):
        services.post_register(url="https://x.com/impostor/status/5")
    assert Post.objects.get().author.handle == "writer"
    assert not Author.objects.filter(handle="impostor").exists()


def test_cast_records_the_vote_its_event_and_a_pending_refresh(alice, post, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        vote = services.vote_cast(voter=alice, post=post, value=1)
    assert vote.value == 1 and vote.author_id == post.author_id
    assert list(VoteEvent.objects.values_list("action", "value")) == [("cast", 1)]
    assert PendingRefresh.objects.filter(author_id=post.author_id).exists()
    assert len(callbacks) == 1  # the refresh is enqueued only after commit


def test_votes_on_one_author_coalesce_into_one_enqueue(alice, bob, post, django_capture_on_commit_callbacks):
    other = services.post_register(url="https://x.com/writer/status/2")
    with django_capture_on_commit_callbacks() as callbacks:
        services.vote_cast(voter=alice, post=post, value=1)
        services.vote_cast(voter=bob, post=post, value=-1)
        services.vote_cast(voter=bob, post=other, value=1)
    assert len(callbacks) == 1
    assert PendingRefresh.objects.get(author_id=post.author_id).version == 3


def test_a_voter_can_change_and_retract_a_vote(alice, post):
    services.vote_cast(voter=alice, post=post, value=1)
    services.vote_cast(voter=alice, post=post, value=-1, reason="misleading")
    assert Vote.objects.get().value == -1
    assert services.vote_retract(voter=alice, post=post) is True
    assert not Vote.objects.exists()
    actions = list(VoteEvent.objects.order_by("id").values_list("action", "previous_value", "value"))
    assert actions == [("cast", 0, 1), ("changed", 1, -1), ("retracted", -1, 0)]


def test_the_same_vote_twice_is_one_vote(alice, post):
    services.vote_cast(voter=alice, post=post, value=1)
    services.vote_cast(voter=alice, post=post, value=1)
    assert Vote.objects.count() == 1
    assert VoteEvent.objects.count() == 1


@pytest.mark.parametrize("value", [7, 0, "up", None])
def test_it_rejects_values_other_than_plus_or_minus_one(alice, post, value):
    with pytest.raises(services.InvalidInput, match="1 .good post. or -1"):
        services.vote_cast(voter=alice, post=post, value=value)
    assert not Vote.objects.exists() and not VoteEvent.objects.exists()
    assert not PendingRefresh.objects.exists()


def test_a_reason_goes_only_with_a_downvote(alice, post):
    with pytest.raises(services.InvalidInput, match="only be given with a downvote"):
        services.vote_cast(voter=alice, post=post, value=1, reason="spam")
    with pytest.raises(services.InvalidInput, match="Unknown reason"):
        services.vote_cast(voter=alice, post=post, value=-1, reason="boring")
    assert not Vote.objects.exists()


def test_the_database_refuses_a_second_vote_row(alice, post):
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    services.vote_cast(voter=alice, post=post, value=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        now = timezone.now()
        Vote.objects.create(voter=alice, post=post, author=post.author, value=1, created_at=now, updated_at=now)


def test_a_user_cannot_vote_on_a_handle_they_linked(alice, post):
    services.author_link(user=alice, platform="x", handle="WRITER")
    with pytest.raises(services.SelfVote, match="linked @writer"):
        services.vote_cast(voter=alice, post=post, value=1)
    assert not Vote.objects.exists()


def test_a_vote_cast_before_linking_the_handle_cannot_be_changed_after(alice, post):
    services.vote_cast(voter=alice, post=post, value=1)
    services.author_link(user=alice, platform="x", handle="writer")

    with pytest.raises(services.SelfVote):
        services.vote_cast(voter=alice, post=post, value=-1, reason="spam")

    assert list(Vote.objects.values_list("value", flat=True)) == [1]  # and the transaction is still usable
    assert VoteEvent.objects.count() == 1


def test_a_handle_links_to_only_one_account(alice, bob):
    services.author_link(user=alice, platform="x", handle="writer")
    with pytest.raises(services.AuthorConflict, match="already linked"):
        services.author_link(user=bob, platform="x", handle="writer")
