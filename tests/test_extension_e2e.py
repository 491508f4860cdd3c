"""The browser extension, end to end, in Debian's headless Chromium.

A fixture page that mimics x.com's markup is served from 127.0.0.1; a test build of the
extension points its content script at that page and its default server at the live test
server, whose database holds seeded reputations. Nothing here contacts x.com.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import threading
from http.server import (
    BaseHTTPRequestHandler,
    SimpleHTTPRequestHandler,
    ThreadingHTTPServer,
)
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.test import Client

from reputation import services as rep_services
from reputation.models import AuthorReputation
from tests.conftest import make_user, wait_for
from votes import services as vote_services
from votes.models import Author, Post, PostPreview, Vote

pytestmark = pytest.mark.browser
# The live server reads what the test wrote, so data must be committed.
live_db = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
FIXTURES = ROOT / "tests" / "fixtures" / "x"
SCREENSHOTS = ROOT / "test-results"
GOOD_POST, POOR_POST, NEW_POST = "1790000000000000101", "1790000000000000102", "1790000000000000103"


# ---------- servers ----------


class XFixtureHandler(SimpleHTTPRequestHandler):
    """x.com-shaped paths: /home is the timeline, /<handle>/status/<id> a post's page, /<handle> a profile."""

    def translate_path(self, path):
        path = urlparse(path).path
        page = "timeline" if path == "/home" else "status" if "/status/" in path else "profile"
        return str(FIXTURES / f"{page}.html")

    def log_message(self, *args):
        pass


class TooManyRequestsHandler(BaseHTTPRequestHandler):
    """A server that always answers 429 and counts the requests it got."""

    hits = 0

    def do_GET(self):
        type(self).hits += 1
        body = b'{"type": "about:blank", "title": "Too Many Requests", "status": 429}'
        self.send_response(429)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Retry-After", "120")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(handler) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def x_site():
    server = serve(XFixtureHandler)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: connections are refused


# ---------- the extension in Chromium ----------


def build_extension(dest: Path, *, server: str, site: str) -> Path:
    """A test copy: content script on the fixture origin, pairing on the server, default server = `server`."""
    shutil.copytree(ROOT / "extension", dest, ignore=shutil.ignore_patterns("tests", "*.md", "node_modules"))
    manifest = json.loads((dest / "manifest.json").read_text())
    x_script, pair_script = manifest["content_scripts"][:2]  # then bsky.app, untouched (never visited)
    x_script["matches"] = [f"{site}/*"]
    pair_script["matches"] = [f"{server}/connect/*"]
    manifest["host_permissions"] = [f"{server}/*", "http://127.0.0.1/*"]  # no port: any 127.0.0.1 server
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (dest / "src" / "config.js").write_text(f"self.MERIT_CONFIG = {{ defaultServer: {json.dumps(server)} }};\n")
    return dest


@pytest.fixture(scope="module")
def playwright_driver():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package to run the extension tests")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on this thread (driven from a greenlet), which
    # makes Django refuse ORM calls here; the calls are plain blocking ones, not inside a coroutine.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as pw:
            yield pw


@pytest.fixture
def chromium(playwright_driver, tmp_path):
    """Launch Chromium with a test build of the extension; yields launch(server, site) -> (context, worker)."""
    contexts = []

    def launch(server: str, site: str):
        ext = build_extension(tmp_path / f"ext{len(contexts)}", server=server, site=site)
        context = playwright_driver.chromium.launch_persistent_context(
            str(tmp_path / f"profile{len(contexts)}"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--headless=new", f"--disable-extensions-except={ext}", f"--load-extension={ext}",
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync",
            ],
        )
        contexts.append(context)
        context.set_default_timeout(10_000)
        # Belt and braces: the fixture never links out, but nothing may reach x.com.
        context.route(re.compile(r"^https?://([^/]*\.)?(x|twitter)\.com(/|$)"), lambda route: route.abort())
        worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
        return context, worker

    yield launch
    for context in contexts:
        context.close()


def open_page(context, url: str):
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
    page.goto(url)
    return page


def badges(page) -> dict[str, str]:
    return dict(
        page.eval_on_selector_all(
            "article [data-merit-badge]", "els => els.map(e => [e.dataset.meritHandle, e.textContent])"
        )
    )


def shown(score: float) -> str:
    return str(math.floor(round(score, 1) + 0.5))  # the API's one decimal, then the badge's Math.round


# ---------- seeded world ----------


@pytest.fixture
def world():
    """Good_Writer liked by eight seasoned voters, poor_writer disliked, quoted_one split, newcomer one vote."""
    voters = [make_user(f"voter{i}", days_old=400) for i in range(8)]
    posts = {
        "good": vote_services.post_register(url=f"https://x.com/Good_Writer/status/{GOOD_POST}"),
        "poor": vote_services.post_register(url=f"https://x.com/poor_writer/status/{POOR_POST}"),
        "quoted": vote_services.post_register(url="https://x.com/quoted_one/status/1790000000000000201"),
        "new": vote_services.post_register(url=f"https://x.com/newcomer/status/{NEW_POST}"),
    }
    Author.objects.filter(handle="Good_Writer").update(follower_count=1_200_000)
    for i, voter in enumerate(voters):
        vote_services.vote_cast(voter=voter, post=posts["good"], value=1)
        vote_services.vote_cast(voter=voter, post=posts["poor"], value=-1, reason="low_effort")
        vote_services.vote_cast(voter=voter, post=posts["quoted"], value=1 if i % 2 else -1)
    vote_services.vote_cast(voter=voters[0], post=posts["new"], value=1)
    rep_services.recompute_all()
    reps = {r.author.handle.lower(): r for r in AuthorReputation.objects.select_related("author")}
    assert reps["good_writer"].score > reps["quoted_one"].score > reps["poor_writer"].score
    assert reps["newcomer"].status == "insufficient_data"
    return reps


@pytest.fixture
def reader():
    from knox.models import AuthToken

    user = make_user("reader", days_old=200)
    _, token = AuthToken.objects.create(user)
    return user, token


def seed_token(worker, token: str) -> None:
    worker.evaluate("async (t) => { await chrome.storage.local.set({token: t}); }", token)


# ---------- specifications ----------


@live_db
def test_it_shows_each_authors_reputation_beside_their_name(chromium, live_server, x_site, world):
    context, _ = chromium(live_server.url, x_site)
    page = open_page(context, f"{x_site}/home")

    page.wait_for_selector('[data-merit-handle="stranger"]', timeout=10_000)
    assert badges(page) == {
        "good_writer": shown(world["good_writer"].score),
        "poor_writer": shown(world["poor_writer"].score),
        "quoted_one": shown(world["quoted_one"].score),  # the quoted post's author, inside the quote card
        "newcomer": "new",  # too few votes to judge
        "stranger": "—",  # unknown to Merit
    }
    good = page.locator(f'article[data-merit-post="{GOOD_POST}"] [data-merit-badge]')
    assert "band-high" in good.get_attribute("class")
    assert "90% interval" in good.get_attribute("title") and "8 voters" in good.get_attribute("title")
    quoted = page.locator('[data-merit-handle="quoted_one"]')
    assert quoted.evaluate("e => e.closest('div[role=link]') !== null")  # beside the quoted name, not the outer one

    # The timeline grows and recycles nodes as you scroll: both get the right badge.
    page.evaluate("fixtureAppendTweet('poor_writer', '1790000000000000105')")
    page.wait_for_selector('article[data-merit-post="1790000000000000105"] [data-merit-handle="poor_writer"]')
    recycled = f"document.querySelector('article[data-merit-post=\"{NEW_POST}\"]')"
    page.evaluate(f"fixtureRewrite({recycled}, 'Good_Writer', '1790000000000000106')")
    page.wait_for_selector('article[data-merit-post="1790000000000000106"] [data-merit-handle="good_writer"]')
    assert page.locator('article[data-merit-post="1790000000000000106"] [data-merit-badge]').count() == 1
    assert page.errors == []


@live_db
def test_it_finds_the_post_on_its_own_page_and_its_replies(chromium, live_server, x_site, world):
    context, _ = chromium(live_server.url, x_site)
    page = open_page(context, f"{x_site}/Good_Writer/status/{GOOD_POST}")

    page.wait_for_selector("article [data-merit-votes]", timeout=10_000)
    page.wait_for_function("document.querySelectorAll('article [data-merit-votes]').length === 2")
    posts = page.eval_on_selector_all(
        "article[data-merit-key]",
        "els => els.map(e => [e.dataset.meritPost, e.querySelector('[data-merit-badge]').dataset.meritHandle])",
    )
    # The focal post's time is not a link: its id comes from the address, the reply keeps its own.
    assert posts == [[GOOD_POST, "good_writer"], ["1790000000000000107", "poor_writer"]]
    assert page.errors == []


@live_db
def test_it_records_votes_cast_with_the_buttons(chromium, live_server, x_site, world, reader):
    user, token = reader
    vote_services.vote_cast(voter=user, post=Post.objects.get(external_id=POOR_POST), value=-1, reason="spam")
    context, worker = chromium(live_server.url, x_site)
    seed_token(worker, token)
    page = open_page(context, f"{x_site}/home")
    good_bar = page.locator(f'article[data-merit-post="{GOOD_POST}"] [data-merit-votes]')
    poor_bar = page.locator(f'article[data-merit-post="{POOR_POST}"] [data-merit-votes]')
    page.wait_for_selector('[data-merit-votes][data-merit-connected="true"]', timeout=10_000)
    assert poor_bar.get_attribute("data-merit-my-vote") == "-1"  # the reader's existing vote, from the API
    assert good_bar.get_attribute("data-merit-my-vote") == "0"

    good_bar.locator('[data-merit-vote="up"]').click()
    vote = wait_for(lambda: Vote.objects.filter(voter=user, post__external_id=GOOD_POST).first(), timeout=10)
    assert vote.value == 1 and vote.author.handle == "Good_Writer"
    # The text the page showed went with the vote: shown, marked unconfirmed, until Merit fetches the post.
    preview = wait_for(lambda: PostPreview.objects.filter(post=vote.post, status="from_extension").first(), timeout=10)
    assert preview.text == "A careful thread about measuring things properly."
    assert good_bar.locator('[data-merit-vote="up"]').get_attribute("aria-pressed") == "true"
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "extension.png"))

    good_bar.locator('[data-merit-vote="down"]').click()  # change
    wait_for(lambda: Vote.objects.filter(voter=user, post__external_id=GOOD_POST, value=-1).exists(), timeout=10)
    good_bar.locator('[data-merit-vote="down"]').click()  # clicking the active vote retracts it
    wait_for(lambda: not Vote.objects.filter(voter=user, post__external_id=GOOD_POST).exists(), timeout=10)
    page.wait_for_selector(f'article[data-merit-post="{GOOD_POST}"] [data-merit-votes][data-merit-my-vote="0"]')

    # A vote the server refuses (here: on the reader's own handle) is undone and explained, not lost silently.
    vote_services.author_link(user=user, platform="x", handle="newcomer")
    own_bar = page.locator(f'article[data-merit-post="{NEW_POST}"] [data-merit-votes]')
    own_bar.locator('[data-merit-vote="up"]').click()
    page.wait_for_selector(f'article[data-merit-post="{NEW_POST}"] [data-merit-votes][data-merit-error]')
    assert own_bar.get_attribute("data-merit-my-vote") == "0"
    assert "cannot vote" in own_bar.get_attribute("title")  # the server's own explanation
    assert not Vote.objects.filter(voter=user, post__external_id=NEW_POST).exists()
    assert page.errors == []


@live_db
def test_it_shows_reputation_where_the_follower_count_stands(chromium, live_server, x_site, world):
    context, _ = chromium(live_server.url, x_site)
    page = open_page(context, f"{x_site}/Good_Writer")

    link = page.locator('a[href$="/verified_followers"]')
    page.wait_for_selector('a[href$="/verified_followers"] [data-merit-badge]', timeout=10_000)
    assert link.locator("[data-merit-badge]").get_attribute("data-merit-handle") == "good_writer"
    assert link.inner_text().split() == [shown(world["good_writer"].score), "Merit"]
    assert link.get_attribute("title").startswith("1.2M Followers")  # still reachable on hover
    link.hover()
    assert "1.2M" in link.inner_text()
    assert page.errors == []


@live_db
def test_it_pairs_through_the_sites_connect_page(chromium, live_server, x_site, world):
    user = make_user("pairing_reader", days_old=200)
    client = Client()
    client.force_login(user)
    context, worker = chromium(live_server.url, x_site)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])

    page = open_page(context, f"{live_server.url}/connect/")
    page.get_by_role("button", name=re.compile("connect this browser", re.IGNORECASE)).click()
    page.wait_for_selector('#merit-connect[data-connected="true"]', state="attached")
    assert page.locator("#merit-connect").get_attribute("data-token") is None  # gone from the page at once
    assert worker.evaluate("async () => Boolean((await chrome.storage.local.get('token')).token)")

    x_page = open_page(context, f"{x_site}/home")
    x_page.wait_for_selector('[data-merit-votes][data-merit-connected="true"]', timeout=10_000)
    x_page.locator(f'article[data-merit-post="{NEW_POST}"] [data-merit-vote="up"]').click()
    vote = wait_for(lambda: Vote.objects.filter(voter=user, post__external_id=NEW_POST).first(), timeout=10)
    assert vote.value == 1
    assert page.errors == [] and x_page.errors == []


def test_it_shows_no_badges_and_a_quiet_dot_when_the_server_is_down(chromium, x_site):
    context, _ = chromium(dead_url(), x_site)
    page = open_page(context, f"{x_site}/home")

    dot = page.wait_for_selector("#merit-ext-indicator", timeout=10_000)
    assert dot.get_attribute("data-merit-state") == "offline"
    assert page.locator("[data-merit-badge], [data-merit-votes]").count() == 0
    assert page.locator('article[data-testid="tweet"]').count() == 4  # the page itself is untouched
    assert page.errors == []


def test_it_backs_off_when_rate_limited_until_retry_after(chromium, x_site):
    TooManyRequestsHandler.hits = 0
    server = serve(TooManyRequestsHandler)
    try:
        context, _ = chromium(f"http://127.0.0.1:{server.server_port}", x_site)
        page = open_page(context, f"{x_site}/home")
        dot = page.wait_for_selector("#merit-ext-indicator", timeout=10_000)
        assert dot.get_attribute("data-merit-state") == "rate_limited"
        assert TooManyRequestsHandler.hits == 1

        page.reload()  # within Retry-After: the worker answers from its back-off, not the server
        page.wait_for_selector('#merit-ext-indicator[data-merit-state="rate_limited"]', timeout=10_000)
        assert TooManyRequestsHandler.hits == 1
        assert page.locator("[data-merit-badge]").count() == 0
        assert page.errors == []
    finally:
        server.shutdown()


def test_the_options_page_shows_the_connection_and_disconnects(chromium, x_site):
    context, worker = chromium(dead_url(), x_site)
    seed_token(worker, "a-token")
    ext_id = worker.url.split("/")[2]
    page = open_page(context, f"chrome-extension://{ext_id}/options.html")

    page.wait_for_selector('#state[data-connected="true"]', state="attached")
    assert "a-token" not in page.content()  # the page shows the state, never the token
    page.get_by_role("button", name="Disconnect").click()
    page.wait_for_selector('#state[data-connected="false"]', state="attached")
    assert worker.evaluate("async () => (await chrome.storage.local.get('token')).token ?? null") is None
    assert page.errors == []
