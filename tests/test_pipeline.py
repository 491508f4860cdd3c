"""Votes flow through the real broker to a real worker and change the author's reputation."""

import pytest

from reputation.models import AuthorReputation, PendingRefresh
from tests.conftest import make_user, wait_for
from votes import services

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_vote_reaches_the_authors_reputation_through_the_worker(celery_worker_thread):
    post = services.post_register(url="https://x.com/writer/status/42")
    voters = [make_user(f"voter{i}", days_old=400) for i in range(6)]
    for voter in voters:
        services.vote_cast(voter=voter, post=post, value=1)

    rep = wait_for(lambda: AuthorReputation.objects.filter(author_id=post.author_id, upvotes=6).first())
    assert rep.score > 50
    assert rep.low < rep.score < rep.high
    wait_for(lambda: not PendingRefresh.objects.exists())

    for voter in voters:
        services.vote_cast(voter=voter, post=post, value=-1, reason="misleading")
    rep = wait_for(lambda: AuthorReputation.objects.filter(author_id=post.author_id, downvotes=6).first())
    assert rep.score < 50
    assert rep.upvotes == 0
