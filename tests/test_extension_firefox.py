"""The browser extension, end to end, in Debian's stock Firefox ESR.

The same world as tests/test_extension_e2e.py (its fixture site mimicking x.com on
127.0.0.1, its seeded reputations, its test build of the extension), driven over WebDriver
BiDi (tests/firefox_bidi.py) because Playwright cannot drive stock Firefox. Firefox's BiDi
does not reach extension pages (options.html, the background page), so the token arrives
the way a user's does: through the site's /connect/ page. Nothing here contacts x.com.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.test import Client

from tests import test_extension_e2e as e2e
from tests.conftest import make_user, wait_for
from tests.firefox_bidi import FIREFOX, Firefox
from votes import services as vote_services
from votes.models import Post, Vote

pytestmark = pytest.mark.browser

# Shared with the Chromium test: the x.com-shaped fixture site and the seeded authors.
x_site, world = e2e.x_site, e2e.world
GOOD_POST, POOR_POST, shown = e2e.GOOD_POST, e2e.POOR_POST, e2e.shown

BADGES = (
    "Object.fromEntries([...document.querySelectorAll('article [data-merit-badge]')]"
    ".map(e => [e.dataset.meritHandle, e.textContent]))"
)


def firefox_build(dest: Path, *, server: str, site: str) -> Path:
    """The Chromium test's build, with match patterns Firefox can use: it never matches a pattern
    that names a port. The fixture site's pattern loses its port; host permissions and the
    pairing pattern are the shipped manifest's own (portless, so they cover the live server
    on localhost:<port>, while the fixture site is on 127.0.0.1)."""
    ext = e2e.build_extension(dest, server=server, site=site)
    shipped = json.loads((e2e.ROOT / "extension" / "manifest.json").read_text())
    manifest = json.loads((ext / "manifest.json").read_text())
    x_script, pair_script = manifest["content_scripts"][:2]  # then bsky.app, untouched (never visited)
    x_script["matches"] = [f"http://{urlparse(site).hostname}/*"]
    pair_script["matches"] = shipped["content_scripts"][1]["matches"]
    manifest["host_permissions"] = shipped["host_permissions"]
    (ext / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return ext


@pytest.fixture
def firefox(live_server, x_site, tmp_path):
    """Headless Firefox ESR with the test build of the extension installed (temporarily, unsigned)."""
    if not FIREFOX.exists():
        pytest.fail(f"{FIREFOX} is missing: install Debian's firefox-esr package to run the Firefox extension tests")
    assert live_server.url.startswith("http://localhost:") and x_site.startswith("http://127.0.0.1:")
    dead_port = int(e2e.dead_url().rsplit(":", 1)[1])
    browser = Firefox(tmp_path / "profile", prefs={
        # Nothing leaves the machine: every non-local request goes to a proxy port nobody
        # listens on (Firefox never proxies localhost and 127.0.0.1).
        "network.proxy.type": 1,
        "network.proxy.share_proxy_settings": True,
        "network.proxy.http": "127.0.0.1",
        "network.proxy.http_port": dead_port,
        "network.proxy.ssl": "127.0.0.1",
        "network.proxy.ssl_port": dead_port,
        "network.trr.mode": 5,  # no DNS over HTTPS either
    })
    try:
        browser.install_extension(firefox_build(tmp_path / "ext", server=live_server.url, site=x_site))
        yield browser
    finally:
        browser.close()


def pair(firefox, live_server, user) -> None:
    """Sign in on the site and click "Connect this browser"; the extension takes the token."""
    client = Client()
    client.force_login(user)
    firefox.send("storage.setCookie", cookie={
        "name": "sessionid", "value": {"type": "string", "value": client.cookies["sessionid"].value},
        "domain": "localhost", "path": "/",
    })
    page = firefox.new_tab(f"{live_server.url}/connect/")
    firefox.click(page, 'form[method="post"] button.btn-primary[type="submit"]')
    firefox.wait_for(page, "document.querySelector('#merit-connect')?.dataset.connected === 'true'")
    assert firefox.evaluate(page, "document.querySelector('#merit-connect').hasAttribute('data-token')") is False


# ---------- specifications ----------


@e2e.live_db
def test_firefox_shows_each_authors_reputation_beside_their_name(firefox, x_site, world):
    page = firefox.new_tab(f"{x_site}/home")

    firefox.wait_for(page, "document.querySelector('[data-merit-handle=\"stranger\"]')")
    assert firefox.evaluate(page, BADGES) == {
        "good_writer": shown(world["good_writer"].score),
        "poor_writer": shown(world["poor_writer"].score),
        "quoted_one": shown(world["quoted_one"].score),  # the quoted post's author, inside the quote card
        "newcomer": "new",  # too few votes to judge
        "stranger": "—",  # unknown to Merit
    }
    good = f'article[data-merit-post="{GOOD_POST}"] [data-merit-badge]'
    assert "band-high" in firefox.evaluate(page, f"document.querySelector('{good}').className")
    title = firefox.evaluate(page, f"document.querySelector('{good}').title")
    assert "90% interval" in title and "8 voters" in title

    # The timeline grows as you scroll: the new post gets its badge too.
    firefox.evaluate(page, "fixtureAppendTweet('poor_writer', '1790000000000000105')")
    firefox.wait_for(
        page, "document.querySelector('article[data-merit-post=\"1790000000000000105\"] [data-merit-handle=\"poor_writer\"]')"
    )
    assert firefox.errors == []


@e2e.live_db
def test_firefox_pairs_and_records_votes_cast_with_the_buttons(firefox, live_server, x_site, world):
    user = make_user("firefox_reader", days_old=200)
    vote_services.vote_cast(voter=user, post=Post.objects.get(external_id=POOR_POST), value=-1, reason="spam")
    pair(firefox, live_server, user)
    page = firefox.new_tab(f"{x_site}/home")
    bar = f'article[data-merit-post="{GOOD_POST}"] [data-merit-votes]'
    my_vote = "document.querySelector('article[data-merit-post=\"{}\"] [data-merit-votes]').dataset.meritMyVote"
    firefox.wait_for(page, "document.querySelector('[data-merit-votes][data-merit-connected=\"true\"]')")
    firefox.wait_for(page, my_vote.format(POOR_POST) + " === '-1'")  # the reader's existing vote, from the API
    assert firefox.evaluate(page, my_vote.format(GOOD_POST)) == "0"

    firefox.click(page, f'{bar} [data-merit-vote="up"]')
    vote = wait_for(lambda: Vote.objects.filter(voter=user, post__external_id=GOOD_POST).first(), timeout=10)
    assert vote.value == 1 and vote.author.handle == "Good_Writer"
    firefox.wait_for(page, f"document.querySelector('{bar} [data-merit-vote=\"up\"]').ariaPressed === 'true'")
    e2e.SCREENSHOTS.mkdir(exist_ok=True)
    firefox.screenshot(page, e2e.SCREENSHOTS / "extension-firefox.png")

    firefox.click(page, f'{bar} [data-merit-vote="down"]')  # change
    wait_for(lambda: Vote.objects.filter(voter=user, post__external_id=GOOD_POST, value=-1).exists(), timeout=10)
    firefox.wait_for(page, my_vote.format(GOOD_POST) + " === '-1'")
    firefox.click(page, f'{bar} [data-merit-vote="down"]')  # clicking the active vote retracts it
    wait_for(lambda: not Vote.objects.filter(voter=user, post__external_id=GOOD_POST).exists(), timeout=10)
    firefox.wait_for(page, my_vote.format(GOOD_POST) + " === '0'")
    assert firefox.errors == []
