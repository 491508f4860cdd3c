"""The full refit rebuilds every aggregate from the votes table."""

import pytest

from reputation import services as rep_services
from reputation.models import (
    AuthorReputation,
    PostScore,
    ReputationSnapshot,
    VoterCredibility,
)
from tests.conftest import make_user
from votes import services

pytestmark = pytest.mark.django_db


def test_recompute_all_rebuilds_reputation_credibility_posts_and_a_snapshot():
    good = services.post_register(url="https://x.com/good/status/1")
    poor = services.post_register(url="https://x.com/poor/status/2")
    for i in range(8):
        voter = make_user(f"v{i}", days_old=300)
        services.vote_cast(voter=voter, post=good, value=1)
        services.vote_cast(voter=voter, post=poor, value=-1, reason="low_effort")
    AuthorReputation.objects.all().delete()

    result = rep_services.recompute_all()

    assert result["votes"] == 16 and result["authors"] == 2 and result["voters"] == 8
    good_rep = AuthorReputation.objects.get(author=good.author)
    poor_rep = AuthorReputation.objects.get(author=poor.author)
    assert good_rep.upvotes == 8 and poor_rep.downvotes == 8
    assert good_rep.score > 50 > poor_rep.score
    assert good_rep.percentile == 100.0 and poor_rep.percentile == 0.0
    assert VoterCredibility.objects.count() == 8
    assert all(0 < c <= 1 for c in VoterCredibility.objects.values_list("credibility", flat=True))
    assert PostScore.objects.get(post=good).quality > PostScore.objects.get(post=poor).quality
    assert ReputationSnapshot.objects.filter(author=good.author).count() == 1


def test_an_author_whose_votes_were_all_retracted_returns_to_no_data(alice, post):
    services.vote_cast(voter=alice, post=post, value=1)
    rep_services.recompute_all()
    services.vote_retract(voter=alice, post=post)
    rep_services.recompute_all()
    rep = AuthorReputation.objects.get(author=post.author)
    assert (rep.upvotes, rep.voters, rep.status, rep.score) == (0, 0, "insufficient_data", 50.0)
    assert not PostScore.objects.exists()
