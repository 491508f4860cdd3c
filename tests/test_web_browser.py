"""The vote box in a real browser (Debian's headless Chromium): in place with htmx, and without JavaScript."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections

from tests.conftest import make_user
from votes import services
from votes.models import Vote

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser(monkeypatch):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on this thread; our ORM calls here are plain blocking ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
        # While Playwright's loop runs on this thread, Django keeps this thread's ORM connection in
        # context-local storage: close it here, or it outlives the test database's teardown.
        connections.close_all()


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url(f"{base}/")


def test_votes_update_in_place_without_reloading_the_page(browser, live_server):
    alice = make_user("alice")
    post = services.post_register(url="https://x.com/writer/status/1790000000000000001")
    page = browser.new_page()
    # Only the test server may be contacted.
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server.url) else route.abort())
    log_in(page, live_server.url, "alice")
    box = f"#vote-{post.pk}"
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    page.click(f"{box} .vote-up")
    page.wait_for_selector(f"{box} .vote-up.is-on")
    assert Vote.objects.get(voter=alice, post=post).value == 1

    page.click(f"{box} summary.vote-down")
    page.click(f"{box} .reason-menu button[value=spam]")
    page.wait_for_selector(f"{box} .vote-down.is-on:has-text('Spam')")
    vote = Vote.objects.get(voter=alice, post=post)
    assert (vote.value, vote.reason) == (-1, "spam")

    page.click(f"{box} .vote-retract")
    page.wait_for_selector(f"{box} :text('Vote retracted')")
    assert not Vote.objects.filter(voter=alice).exists()

    # Linked elsewhere while this page was open: the refusal (a 403 fragment) is swapped in, not lost.
    services.author_link(user=alice, platform="x", handle="writer")
    page.click(f"{box} .vote-up")
    error = page.wait_for_selector(f"{box} .vote-error")
    assert "cannot vote on its posts" in error.inner_text()
    assert not Vote.objects.exists()
    assert page.evaluate("window.__sameDocument") is True


def test_votes_work_without_javascript(browser, live_server):
    alice = make_user("alice")
    post = services.post_register(url="https://x.com/writer/status/1790000000000000001")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server.url, "alice")

    page.click(f"#vote-{post.pk} .vote-up")
    page.wait_for_selector(".alert-success:has-text('counted as a good post')")
    assert page.url.endswith(f"/#post-{post.pk}")
    assert Vote.objects.get(voter=alice, post=post).value == 1

    page.click(f"#vote-{post.pk} summary.vote-down")  # <details> opens natively
    page.click(f"#vote-{post.pk} .reason-menu button[value=misleading]")
    page.wait_for_selector(f"#vote-{post.pk} .vote-down.is-on:has-text('Misleading')")
    assert Vote.objects.get(voter=alice, post=post).reason == "misleading"
    context.close()
