"""Post previews and proved handle claims in a real browser (Debian's headless Chromium).

The platforms are tests/fake_platform.py; the browser itself may reach only the test server.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import fake_platform as fake_server
from tests import test_web_browser as web
from tests.conftest import make_user
from votes import previews, services
from votes.models import Author, ClaimStatus, HandleClaim, PostPreview, PreviewStatus, Vote

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
browser = web.browser  # fixtures
fake_platform = fake_server.fake_platform
GOOD = "https://x.com/writer/status/1790000000000000001"
GONE = "https://x.com/writer/status/1790000000000000002"
SEEN = "https://x.com/writer/status/1790000000000000003"
PROOF = "https://x.com/writer/status/1800000000000000000"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results"


def screenshots(page, name: str) -> None:
    """The page at desktop and phone width, for a person to look at (test-results/ is not committed)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for width, height, label in ((390, 844, "phone"), (1280, 900, "desktop")):  # the test goes on at desktop width
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)


def new_page(browser, base: str, *, context=None):
    page = (context or browser).new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.violations = violations
    return page


def test_a_post_card_shows_its_fetched_preview(browser, live_server, fake_platform):
    fake_platform.x_post(
        GOOD, name="The Writer", handle="writer",
        text_html="Measured twice &lt;img src=x onerror=alert(1)&gt;<br>then <b>cut</b> once",
    )
    fake_platform.x_post(GONE, text_html="", name="", handle="writer", status=404)
    # The platform is down for SEEN: its fetch fails, to be retried later (as does the one registering
    # queued, if a worker runs it), and the voter's text arriving after that failure is shown.
    fake_platform.x_post(SEEN, text_html="", name="", handle="writer", status=503)
    good, gone, seen = (services.post_register(url=u) for u in (GOOD, GONE, SEEN))
    for post in (good, gone, seen):
        previews.preview_fetch(post_id=post.pk)
    assert PostPreview.objects.get(post=seen).status == PreviewStatus.FAILED
    previews.preview_offer_text(post=seen, text="What a voter's browser showed")
    page = new_page(browser, live_server.url)
    page.goto(f"{live_server.url}/")

    card = page.locator(f"#post-{good.pk} .post-preview")
    assert card.locator(".post-preview-name").inner_text() == "The Writer"
    assert card.locator(".post-preview-text").inner_text() == "Measured twice <img src=x onerror=alert(1)>\nthen cut once"
    assert card.locator("img").count() == 0  # platform text is text: nothing in it becomes markup
    assert card.locator("time").get_attribute("datetime").startswith("2024-05-13T12:43:51")
    assert page.locator(f"#post-{gone.pk} .post-preview").inner_text() == "This post was deleted or is private."
    unconfirmed = page.locator(f"#post-{seen.pk} .post-preview")
    assert "What a voter's browser showed" in unconfirmed.inner_text()
    assert "(text as seen by a voter, not yet confirmed)" in unconfirmed.inner_text()

    screenshots(page, "preview-feed")
    page.goto(f"{live_server.url}/p/{good.pk}/")  # the post's own page
    screenshots(page, "preview-post")
    assert "Measured twice" in page.locator(f"#post-{good.pk} .post-preview-text").inner_text()
    assert page.violations == []


def test_my_votes_lists_what_each_post_says(browser, live_server, fake_platform):
    alice = make_user("alice")
    fake_platform.x_post(GOOD, text_html="The post I rated", name="The Writer", handle="writer")
    post = services.post_register(url=GOOD)
    previews.preview_fetch(post_id=post.pk)
    services.vote_cast(voter=alice, post=post, value=1)
    page = new_page(browser, live_server.url)
    web.log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/me/votes/")
    row = page.locator(f"#post-{post.pk}")
    assert "The post I rated" in row.locator(".post-preview-text").inner_text()
    assert row.locator("a:has-text('View post on X')").count() == 1
    screenshots(page, "preview-my-votes")


def test_a_claim_is_verified_through_a_proof_post(browser, live_server, fake_platform):
    alice = make_user("alice")
    post = services.post_register(url=GOOD)
    page = new_page(browser, live_server.url)
    web.log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/a/x/writer/")
    page.click("button:has-text('This is me')")
    code = page.locator(".claim-code").inner_text()
    screenshots(page, "claim-pending")
    assert re.fullmatch(r"merit-[a-z0-9]{8}", code)
    assert Author.objects.get(pk=post.author_id).owner_id is None  # nothing proved yet

    # alice posts the code from @writer on X, then pastes the post's link.
    fake_platform.x_post(PROOF, text_html=f"Proving my Merit account: {code}", name="The Writer", handle="writer")
    page.fill("#proof-url", PROOF)
    page.click("button:has-text('Verify')")
    page.wait_for_selector(".alert-success:has-text('Verified: @writer is yours')")
    assert "Verified owner since" in page.locator(".author-hero").inner_text()
    screenshots(page, "claim-verified")
    author = Author.objects.get(pk=post.author_id)
    assert author.owner_id == alice.pk
    assert HandleClaim.objects.get(user=alice).status == ClaimStatus.VERIFIED
    page.goto(f"{live_server.url}/p/{post.pk}/")
    assert "can’t vote on its posts" in page.locator(f"#vote-{post.pk}").inner_text()
    assert page.violations == []


def test_an_unverified_claim_blocks_nobody(browser, live_server, fake_platform):
    alice, bob = make_user("alice"), make_user("bob")
    post = services.post_register(url=GOOD)
    alice_page = new_page(browser, live_server.url, context=browser.new_context())
    web.log_in(alice_page, live_server.url, "alice")
    alice_page.goto(f"{live_server.url}/a/x/writer/")
    alice_page.click("button:has-text('This is me')")
    alice_page.wait_for_selector(".claim-code")

    bob_page = new_page(browser, live_server.url, context=browser.new_context())
    web.log_in(bob_page, live_server.url, "bob")
    bob_page.goto(f"{live_server.url}/a/x/writer/")
    hero = bob_page.locator(".author-hero").inner_text()
    assert "Verified owner" not in hero and bob_page.locator(".claim-code").count() == 0
    assert bob_page.locator("button:has-text('This is me')").count() == 1  # bob could claim it as well
    bob_page.goto(f"{live_server.url}/")
    bob_page.click(f"#vote-{post.pk} .vote-up")
    bob_page.wait_for_selector(f"#vote-{post.pk} .vote-up.is-on")
    assert Vote.objects.get(voter=bob, post=post).value == 1

    # Only the claimer's own votes wait for the proof.
    alice_page.goto(f"{live_server.url}/p/{post.pk}/")
    assert "can’t vote on its posts" in alice_page.locator(f"#vote-{post.pk}").inner_text()
    assert not Vote.objects.filter(voter=alice).exists()
    assert Author.objects.get(pk=post.author_id).owner_id is None
    assert PostPreview.objects.filter(post=post).exists()
