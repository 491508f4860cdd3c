"""The extension on bsky.app and on a Mastodon instance the user granted, in Debian's headless Chromium.

Fixture pages mimic each site's markup (tests/fixtures/bsky, tests/fixtures/mastodon) and are served from
127.0.0.1; a test build of the extension runs its bsky.app content script on the fixture's origin, and the
Mastodon one only where the options page was given the instance. Nothing here contacts bsky.app or Mastodon.
"""

from __future__ import annotations

import json
import re
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlparse

import pytest

from reputation import services as rep_services
from reputation.models import AuthorReputation
from tests.conftest import make_user, wait_for
from tests.test_extension_e2e import (  # noqa: F401 - fixtures
    CHROMIUM,
    build_extension,
    open_page,
    playwright_driver,
    reader,
    seed_token,
    serve,
    shown,
)
from votes import services as vote_services
from votes.models import Vote

pytestmark = pytest.mark.browser
live_db = pytest.mark.django_db(transaction=True)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOOD, POOR, STRANGE = "3kgood00001", "3kpoor00001", "3kstrange01"
ALICE_STATUS = "110000000000000001"


def fixture_site(folder: str, page_for):
    class Handler(SimpleHTTPRequestHandler):
        def translate_path(self, path):
            return str(FIXTURES / folder / page_for(urlparse(path).path))

        def log_message(self, *args):
            pass

    server = serve(Handler)
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def bsky_site():
    server, url = fixture_site("bsky", lambda path: "thread.html" if "/post/" in path else "timeline.html")
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def mastodon_site():
    server, url = fixture_site("mastodon", lambda path: "timeline.html")
    yield url
    server.shutdown()


@pytest.fixture
def chromium(playwright_driver, tmp_path):  # noqa: F811
    """launch(server, bsky_site) -> (context, worker): x.com's script nowhere, bsky.app's on the fixture origin."""
    contexts = []

    def launch(server: str, bsky: str):
        ext = build_extension(tmp_path / f"ext{len(contexts)}", server=server, site="http://x.invalid")
        manifest = json.loads((ext / "manifest.json").read_text())
        bsky_script = manifest["content_scripts"][2]
        assert bsky_script["js"][0] == "src/bsky.js"
        bsky_script["matches"] = [f"{bsky}/*"]
        # Granted at install here, so the options page's request is answered without a prompt to click.
        manifest["permissions"].append("scripting")
        (ext / "manifest.json").write_text(json.dumps(manifest, indent=2))
        context = playwright_driver.chromium.launch_persistent_context(
            str(tmp_path / f"profile{len(contexts)}"), executable_path=str(CHROMIUM), headless=True,
            args=["--headless=new", f"--disable-extensions-except={ext}", f"--load-extension={ext}", "--no-sandbox",
                  "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run",
                  "--disable-sync"],
        )
        contexts.append(context)
        context.set_default_timeout(10_000)
        context.route(re.compile(r"^https?://([^/]*\.)?(bsky\.app|bsky\.social|mastodon\.social|x\.com)(/|$)"),
                      lambda route: route.abort())
        worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
        return context, worker

    yield launch
    for context in contexts:
        context.close()


@pytest.fixture
def world():
    """good.bsky.social liked by eight seasoned voters, poor.bsky.social disliked, alice on the fixture instance liked."""
    voters = [make_user(f"voter{i}", days_old=400) for i in range(8)]
    good = vote_services.post_register(url=f"https://bsky.app/profile/good.bsky.social/post/{GOOD}")
    poor = vote_services.post_register(url=f"https://bsky.app/profile/poor.bsky.social/post/{POOR}")
    alice = vote_services.post_register(platform="mastodon", post_id=f"127.0.0.1:{ALICE_STATUS}", handle="alice@127.0.0.1")
    for voter in voters:
        vote_services.vote_cast(voter=voter, post=good, value=1)
        vote_services.vote_cast(voter=voter, post=poor, value=-1, reason="low_effort")
        vote_services.vote_cast(voter=voter, post=alice, value=1)
    rep_services.recompute_all()
    return {r.author.handle.lower(): r for r in AuthorReputation.objects.select_related("author")}


def badges(page) -> dict[str, str]:
    return dict(page.eval_on_selector_all("[data-merit-badge]", "els => els.map(e => [e.dataset.meritHandle, e.textContent])"))


@live_db
def test_on_bsky_it_shows_badges_beside_authors_and_records_a_vote(chromium, live_server, bsky_site, world, reader):  # noqa: F811
    user, token = reader
    context, worker = chromium(live_server.url, bsky_site)
    seed_token(worker, token)
    page = open_page(context, f"{bsky_site}/")

    page.wait_for_selector('[data-merit-handle="stranger.bsky.social"]', timeout=10_000)
    assert badges(page) == {
        "good.bsky.social": shown(world["good.bsky.social"].score),
        "poor.bsky.social": shown(world["poor.bsky.social"].score),
        "stranger.bsky.social": "—",  # unknown to Merit
    }
    good_item = page.locator('[data-testid="feedItem-by-good.bsky.social"]')
    assert good_item.get_attribute("data-merit-post") == GOOD
    assert "band-high" in good_item.locator("[data-merit-badge]").get_attribute("class")
    # Beside the author's name, not on the avatar link.
    assert good_item.locator("[data-merit-badge]").evaluate("e => e.previousElementSibling.textContent") == "Good Writer"

    bar = good_item.locator("[data-merit-votes]")
    page.wait_for_selector('[data-merit-votes][data-merit-connected="true"]', timeout=10_000)
    assert bar.evaluate("e => e.parentElement.querySelector('[data-testid=likeBtn]') !== null")  # in the action row
    bar.locator('[data-merit-vote="up"]').click()
    vote = wait_for(lambda: Vote.objects.filter(voter=user, post__external_id=GOOD).first(), timeout=10)
    assert vote.value == 1 and vote.post.platform == "bluesky" and vote.author.handle == "good.bsky.social"
    assert bar.locator('[data-merit-vote="up"]').get_attribute("aria-pressed") == "true"

    # A post Merit has not seen is registered by the vote itself, under the author the page shows.
    page.locator('[data-testid="feedItem-by-stranger.bsky.social"] [data-merit-vote="down"]').click()
    vote = wait_for(lambda: Vote.objects.filter(voter=user, post__external_id=STRANGE).first(), timeout=10)
    assert vote.value == -1 and vote.post.url == f"https://bsky.app/profile/stranger.bsky.social/post/{STRANGE}"

    # Posts that arrive as the feed scrolls get theirs too.
    page.evaluate("fixtureAppendPost('poor.bsky.social', '3kpoor00002')")
    page.wait_for_selector('[data-merit-post="3kpoor00002"] [data-merit-handle="poor.bsky.social"]')
    assert page.errors == []


@live_db
def test_on_a_bsky_post_page_the_focal_post_takes_its_id_from_the_address(chromium, live_server, bsky_site, world):
    context, _ = chromium(live_server.url, bsky_site)
    page = open_page(context, f"{bsky_site}/profile/good.bsky.social/post/{GOOD}")
    page.wait_for_function("document.querySelectorAll('[data-merit-votes]').length === 2", timeout=10_000)
    posts = page.eval_on_selector_all(
        "[data-merit-key]", "els => els.map(e => [e.dataset.meritPost, e.querySelector('[data-merit-badge]').dataset.meritHandle])"
    )
    assert posts == [[GOOD, "good.bsky.social"], ["3kpoorreply1", "poor.bsky.social"]]
    assert page.errors == []


@live_db
def test_on_mastodon_it_runs_only_on_an_instance_granted_in_the_options(chromium, live_server, bsky_site, mastodon_site,
                                                                       world, reader):  # noqa: F811
    user, token = reader
    context, worker = chromium(live_server.url, bsky_site)
    seed_token(worker, token)
    before = open_page(context, f"{mastodon_site}/home")
    before.wait_for_selector(".status[data-id]")
    before.wait_for_timeout(1500)
    assert before.locator("[data-merit-badge], [data-merit-votes]").count() == 0  # not granted: Merit stays out

    ext_id = worker.url.split("/")[2]
    options = open_page(context, f"chrome-extension://{ext_id}/options.html")
    options.get_by_role("textbox", name="Mastodon instance").fill(mastodon_site)
    options.get_by_role("button", name="Allow").click()
    options.wait_for_selector("#instances li[data-origin='http://127.0.0.1']")
    assert "now runs on 127.0.0.1" in options.locator("#instance-message").inner_text()

    page = open_page(context, f"{mastodon_site}/home")
    page.wait_for_selector('[data-merit-handle="bob@fosstodon.org"]', timeout=10_000)
    assert badges(page) == {"alice@127.0.0.1": shown(world["alice@127.0.0.1"].score), "bob@fosstodon.org": "—"}
    status = page.locator(f'.status[data-id="{ALICE_STATUS}"]')
    assert status.get_attribute("data-merit-post") == f"127.0.0.1:{ALICE_STATUS}"
    page.wait_for_selector('[data-merit-votes][data-merit-connected="true"]', timeout=10_000)
    status.locator('[data-merit-vote="up"]').click()
    vote = wait_for(lambda: Vote.objects.filter(voter=user, post__external_id=f"127.0.0.1:{ALICE_STATUS}").first(),
                    timeout=10)
    assert vote.value == 1 and vote.author.handle == "alice@127.0.0.1"

    # The remote author's status: an unseen post, registered under bob@fosstodon.org by the vote.
    page.locator('.status[data-id="110000000000000002"] [data-merit-vote="down"]').click()
    vote = wait_for(lambda: Vote.objects.filter(voter=user, post__external_id="127.0.0.1:110000000000000002").first(),
                    timeout=10)
    assert vote.author.handle == "bob@fosstodon.org"
    assert vote.post.url == "https://127.0.0.1/@bob@fosstodon.org/110000000000000002"
    assert page.errors == [] and options.errors == []
