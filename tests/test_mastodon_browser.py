"""A Mastodon post rated from the site, in a real browser (Debian's headless Chromium)."""

from __future__ import annotations

import pytest

from tests.conftest import make_user
from tests.test_web_browser import browser, log_in  # noqa: F401  (the fixture)
from votes.models import Post, Vote

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_pasted_mastodon_link_lands_on_its_post_ready_to_vote(browser, live_server):  # noqa: F811
    alice = make_user("alice")
    page = browser.new_page()
    # Only the test server may be contacted (a preview fetch runs in the worker, not in this browser).
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server.url) else route.abort())
    log_in(page, live_server.url, "alice")

    page.get_by_label("Post link").fill("not a url at all")
    page.get_by_role("button", name="Rate it").click()
    assert "That is not a link to a post." in page.locator("#rate-error").inner_text()

    page.get_by_label("Post link").fill("https://fosstodon.org/@Ada@Mastodon.Social/110000000000000042")
    page.get_by_role("button", name="Rate it").click()
    page.wait_for_url(f"{live_server.url}/p/*/")
    post = Post.objects.get()
    assert (post.platform, post.external_id, post.author.handle) == (
        "mastodon", "fosstodon.org:110000000000000042", "Ada@mastodon.social")
    assert "@Ada@mastodon.social" in page.locator("main").inner_text()

    page.click(f"#vote-{post.pk} .vote-up")
    page.wait_for_selector(f"#vote-{post.pk} .vote-up.is-on")
    assert Vote.objects.get(voter=alice, post=post).value == 1
    page.goto(f"{live_server.url}/a/mastodon/Ada@mastodon.social/")
    assert page.locator("h1").inner_text() == "@Ada@mastodon.social"
