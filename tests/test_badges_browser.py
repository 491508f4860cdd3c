"""The badge SVG in a real browser (Debian's headless Chromium): it parses as SVG and shows the score, loads as an
image on the author page and on another origin, and the author page's snippet runs under the CSP."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reputation.models import AuthorReputation
from tests.test_csp_browser import violations, watched_page
from tests.test_web_browser import browser  # noqa: F401  (the fixture)
from votes.models import Author

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def writer():
    author = Author.objects.create(platform="mastodon", handle="Ada@mastodon.social")
    AuthorReputation.objects.create(author=author, score=72.4, low=61.2, high=80.6, status="established",
                                    upvotes=9, downvotes=2, voters=9, updated_at="2026-11-30T10:00:00Z")
    return author


def test_the_badge_parses_as_svg_with_the_score_and_the_author_page_shows_it(browser, live_server, writer):  # noqa: F811
    page, console = watched_page(browser, live_server)
    page.goto(f"{live_server.url}/a/mastodon/Ada@mastodon.social/")

    parsed = page.evaluate("""async (url) => {
        const response = await fetch(url);
        const doc = new DOMParser().parseFromString(await response.text(), "image/svg+xml");
        return {
            type: response.headers.get("content-type"), etag: response.headers.get("etag"),
            root: doc.documentElement.nodeName, error: doc.querySelector("parsererror") !== null,
            texts: Array.from(doc.querySelectorAll("text"), (t) => t.textContent),
            label: doc.documentElement.getAttribute("aria-label"),
        };
    }""", "/badge/mastodon/ada@mastodon.social.svg")
    assert parsed["type"] == "image/svg+xml; charset=utf-8" and parsed["etag"]
    assert parsed["root"] == "svg" and not parsed["error"]
    assert parsed["texts"] == ["Merit", "72 (61\u201381) established"]
    assert parsed["label"].startswith("Merit reputation of @Ada@mastodon.social: 72 out of 100")

    preview = page.locator("#badge img[data-merit-badge-preview]")
    preview.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('#badge img').complete")
    assert preview.evaluate("img => img.naturalWidth") > 100  # rendered, not a broken image
    markdown = page.get_by_role("textbox", name="Markdown").input_value()
    assert markdown == (f"[![Merit reputation of @Ada@mastodon.social]({live_server.url}/badge/mastodon/Ada@mastodon.social.svg)]"
                        f"({live_server.url}/a/mastodon/Ada@mastodon.social/)")
    assert page.get_by_role("textbox", name="HTML").input_value().startswith(
        f'<a href="{live_server.url}/a/mastodon/Ada@mastodon.social/"><img src=')
    assert page.get_by_role("button", name="Copy the Markdown snippet").is_visible()  # the script ran
    assert violations(page, console) == []


def test_the_badge_shows_on_another_site_as_in_a_readme(browser, live_server, writer):  # noqa: F811
    badge = f"{live_server.url}/badge/mastodon/Ada@mastodon.social.svg"
    html = f'<!doctype html><title>README</title><img id="b" src="{badge}" alt="Merit">'.encode()

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")  # strictest embedder: CORP must allow it
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("localhost", 0), Elsewhere)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"http://localhost:{server.server_port}/")
        page.wait_for_function("document.getElementById('b').complete")
        assert page.evaluate("document.getElementById('b').naturalWidth") > 100
    finally:
        server.shutdown()
