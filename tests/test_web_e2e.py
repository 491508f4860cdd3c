"""End to end: people vote through the web pages, the real worker refreshes, the author page shows it."""

import pytest
from django.template.defaultfilters import floatformat
from django.test import Client
from django.urls import reverse

from reputation.models import AuthorReputation
from tests.conftest import make_user, wait_for
from votes.models import Post

pytestmark = pytest.mark.django_db(transaction=True)


def test_votes_cast_in_the_browser_change_the_reputation_shown_on_the_author_page(celery_worker_thread):
    voters = [make_user(f"reader{i}", days_old=400) for i in range(6)]
    clients = []
    for voter in voters:
        client = Client()
        client.force_login(voter)
        clients.append(client)

    # One reader pastes the link; everyone rates the post from its page, half with htmx, half without.
    response = clients[0].post(reverse("rate"), {"url": "https://x.com/essayist/status/1800000000000000042"})
    post = Post.objects.get()
    assert response.url == reverse("post", args=[post.pk])
    author_url = reverse("author", args=["x", "essayist"])
    assert "Not enough votes yet" in clients[0].get(author_url).content.decode()

    for i, client in enumerate(clients):
        headers = {"HTTP_HX_REQUEST": "true"} if i % 2 else {}
        response = client.post(reverse("vote", args=[post.pk]), {"value": "1", "next": author_url}, **headers)
        assert response.status_code in (200, 302)

    rep = wait_for(lambda: AuthorReputation.objects.filter(author=post.author, upvotes=6).first(), timeout=30)
    assert rep.status != "insufficient_data" and rep.score > 50 and rep.low < rep.score < rep.high

    page = wait_for(lambda: page_showing(author_url, floatformat(rep.score, 1)))
    assert "Not enough votes yet" not in page
    assert f"{floatformat(rep.low, 1)}–{floatformat(rep.high, 1)}" in page
    assert "<svg" in page

    # Changing minds through the UI moves the score back down.
    for client in clients:
        client.post(reverse("vote", args=[post.pk]), {"value": "-1", "reason": "misleading"}, HTTP_HX_REQUEST="true")
    lowered = wait_for(lambda: AuthorReputation.objects.filter(author=post.author, downvotes=6).first(), timeout=30)
    assert lowered.score < 50
    wait_for(lambda: page_showing(author_url, floatformat(lowered.score, 1)))


def page_showing(url: str, needle: str) -> str | None:
    """The page as an anonymous visitor sees it, once it contains `needle`."""
    html = Client().get(url).content.decode()
    return html if needle in html else None
