"""What a first visit runs into, each fixed as a person would expect: links that carry the address the site
was reached on, README examples that work on the demo world, labeled numbers and plain words."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from reputation.models import AuthorReputation, Status
from tests.conftest import make_user
from tests.test_web_browser import browser  # noqa: F401  (the fixture)
from votes import services

pytestmark = pytest.mark.django_db


def scored(url: str, **fields):
    post = services.post_register(url=url)
    defaults = {"score": 64.0, "low": 51.0, "high": 77.0, "upvotes": 9, "voters": 9, "effective_voters": 6.5,
                "status": Status.PROVISIONAL}
    AuthorReputation.objects.create(author=post.author, **{**defaults, **fields})
    return post


# --- Absolute URLs: from the request, or SITE_URL when it is set ---------------------------------------

def test_api_urls_and_problem_types_carry_the_host_and_port_the_request_came_in_on():
    scored("https://x.com/writer/status/1790000000000000001")
    client = Client(HTTP_HOST="localhost:8731")
    single = client.get("/api/v1/authors/x/writer").json()
    batch = client.get("/api/v1/authors?platform=x&handles=writer").json()
    problem = client.get("/api/v1/authors/x/nobody-here").json()
    assert single["url"] == "http://localhost:8731/a/x/writer/"
    assert batch["results"]["writer"]["url"] == "http://localhost:8731/a/x/writer/"
    assert problem["type"] == "http://localhost:8731/api/v1/problems/not-found"


def test_a_cached_card_is_not_handed_to_another_host_with_the_first_hosts_address():
    scored("https://x.com/writer/status/1790000000000000001")
    assert Client(HTTP_HOST="localhost:8731").get("/api/v1/authors/x/writer").json()["url"].startswith(
        "http://localhost:8731/")
    # Same card, now from the cache: the second reader's own address.
    assert Client(HTTP_HOST="127.0.0.1:9000").get("/api/v1/authors?handles=writer").json()["results"]["writer"][
        "url"] == "http://127.0.0.1:9000/a/x/writer/"


@override_settings(SITE_URL="https://merit.example/")
def test_site_url_when_set_wins_over_the_request():
    scored("https://x.com/writer/status/1790000000000000001")
    client = Client(HTTP_HOST="localhost:8731")
    assert client.get("/api/v1/authors/x/writer").json()["url"] == "https://merit.example/a/x/writer/"
    assert client.get("/api/v1/nope").json()["type"] == "https://merit.example/api/v1/problems/not-found"


def test_a_host_outside_allowed_hosts_never_becomes_a_link():
    response = Client(HTTP_HOST="evil.example").get("/api/v1/authors/x/writer")
    assert response.status_code == 400 and b"evil.example" not in response.content


def test_the_readme_documents_site_url_in_its_settings_table():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "| `SITE_URL` |" in table


def test_the_rate_next_page_url_follows_the_request():
    from knox.models import AuthToken

    user = make_user("alice")
    _, token = AuthToken.objects.create(user=user)
    body = Client(HTTP_HOST="localhost:8731", HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/rate-next").json()
    assert body["page_url"] == "http://localhost:8731/rate-next/"


# --- README examples work on the demo world ------------------------------------------------------------

def readme_curl_examples() -> list[str]:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("## Public API and browser extension", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip().startswith("curl")]


def test_the_readme_examples_name_handles_the_demo_world_has_and_answer_on_it():
    import re
    import shlex

    from knox.models import AuthToken
    from rest_framework_api_key.models import APIKey

    from votes.management.demo_world import CROWD, NAMED

    demo = {h for h, *_ in NAMED} | set(CROWD)
    examples = readme_curl_examples()
    named = {h for line in examples for h in re.findall(r"(?:handles=|authors/x/|x\.com/)([A-Za-z0-9_,]+)", line)
             for h in h.split(",")}
    assert named and named - {"unknown"} <= demo, named - demo
    for handle in named - {"unknown"}:
        scored(f"https://x.com/{handle}/status/1790000000000000{len(handle):03d}")
    user = make_user("demo")
    _, token = AuthToken.objects.create(user=user)
    _, key = APIKey.objects.create_key(name="readme")
    answers = []
    for line in examples:
        args = shlex.split(line.replace("$KEY", key).replace("$TOKEN", token))
        url = next(a for a in args if a.startswith("http://127.0.0.1:8000"))
        headers = {f"HTTP_{k.strip().upper().replace('-', '_')}": v.strip()
                   for k, v in (args[i + 1].split(":", 1) for i, a in enumerate(args) if a == "-H")}
        headers.pop("HTTP_CONTENT_TYPE", None)
        body = args[args.index("-d") + 1] if "-d" in args else None
        client = Client(HTTP_HOST="127.0.0.1:8000")
        path = url.removeprefix("http://127.0.0.1:8000")
        response = (client.post(path, body, content_type="application/json", **headers) if body
                    else client.get(path, **headers))
        answers.append(response.status_code)
    assert answers == [200, 200, 201], answers


# --- Plain words and figures for people ---------------------------------------------------------------

def test_explanations_speak_plainly_and_never_show_engine_keys():
    from votes.templatetags.merit import explanation_lines

    lines = explanation_lines({
        "votes": 1, "voters": 1, "independent_voices": 1, "groups": 0, "effective_voters": 51.88,
        "counted_weight": 0.8,
        "discounted": {"collapsed_groups": 2.4, "per_group_cap": 1.2, "per_voter_cap": 0.0, "large_groups": 0.01},
        "coordinated_discount": {"weight": 3.0, "share_of_votes": 0.25, "groups": 1},
        "viewpoint_sides_up_share": [0.8, 0.7], "unproven_pool": {"weight": 2.0, "held_back": 1.0},
        "solicited": {"votes": 1, "weight": 0.5}, "prior_votes": 4.0, "some_new_engine_key": 0.3,
    })
    text = " ".join(lines)
    assert lines[0] == "1 vote from 1 person."
    assert "about 52 unrelated people" in text and "51.88" not in text
    assert "count together as one voice" in text and "a group's say is limited too" in text
    assert "25% of the votes came from a coordinated group" in text
    assert "1 vote came from people Merit asked" in text
    for engine_words in ("per group cap", "collapsed groups", "viewpoint_sides_up_share", "viewpoint sides",
                         "vote-equivalents", "some new engine key", "1 votes"):
        assert engine_words not in text.lower(), engine_words


def test_an_author_held_by_the_people_merit_asked_says_so_in_words():
    from votes.templatetags.merit import explanation_lines

    held = " ".join(explanation_lines({"solicited": {"votes": 12, "weight": 9.0, "held_points": 14.2}}))
    lifted = " ".join(explanation_lines({"solicited": {"votes": 12, "weight": 9.0, "held_points": -3.0}}))
    quiet = " ".join(explanation_lines({"solicited": {"votes": 12, "weight": 9.0, "held_points": 0.4}}))
    assert "14 points more than the people Merit asked would support, so the score stays lower" in held
    assert "3 points less" in lifted and "stays higher" in lifted
    assert "points" not in quiet  # under a point is noise to a reader


def test_the_history_lists_only_days_the_score_moved_or_a_correction():
    from datetime import date

    from votes.selectors import HistoryPoint
    from votes.templatetags.merit import history_changes

    seed = "backfilled by seed_demo"
    points = [HistoryPoint(date(2026, 11, d), s, s - 9, s + 9, v, note) for d, s, v, note in (
        (1, 60.0, 10, seed), (2, 60.3, 11, seed), (3, 64.0, 15, seed), (4, 64.2, 15, seed),
        (5, 64.0, 15, "Correction: votes from a newly detected coordinated group stopped counting."),
        (6, 61.0, 16, seed),
    )]
    rows = history_changes(points)
    assert [(r["day"].day, round(r["delta"]), r["correction"][:10]) for r in rows] == [
        (6, -3, ""), (5, 0, "Correction"), (3, 4, "")]
    assert rows[2]["new_votes"] == 4


def test_the_author_page_shows_no_backfill_rows_and_links_how_scores_work(client):
    from datetime import timedelta

    from django.utils import timezone

    from reputation.models import ReputationSnapshot

    post = scored("https://x.com/writer/status/1790000000000000001")
    today = timezone.now().date()
    for back in range(30, 0, -1):  # seed_demo's month of nearly flat days, one real jump
        score = 60.0 + (5 if back < 10 else 0) + back % 2 * 0.2
        ReputationSnapshot.objects.create(author=post.author, day=today - timedelta(days=back), score=score,
                                          low=score - 9, high=score + 9, votes=40, note="backfilled by seed_demo")
    page = client.get("/a/x/writer/").content.decode()
    assert "backfilled" not in page
    assert page.count("<li><time") == 1 and "Score +5, to 65" in page
    assert 'href="/how-scores/"' in page


def test_how_scores_work_is_a_page_linked_from_every_footer(client):
    page = client.get("/how-scores/")
    assert page.status_code == 200 and "Calling it early" in page.content.decode()
    assert 'href="/how-scores/"' in client.get("/leaderboard/").content.decode()


def test_feed_cards_label_their_figures_and_count_votes_in_words(client):
    from reputation.models import PostScore

    post = scored("https://x.com/writer/status/1790000000000000001", score=73.0)
    PostScore.objects.create(post=post, quality=71.0, upvotes=1, downvotes=0)
    page = client.get("/").content.decode()
    assert '<span class="rep-badge-label">Author</span> 73' in page
    assert ">Post quality</span>" in page and "<strong>71</strong>" in page
    assert "1 vote (1 good, 0 poor)" in page and "1 votes" not in page


def test_my_votes_shows_the_voters_weight_and_what_raises_it():
    from django.utils import timezone

    from reputation.models import VoterCredibility

    alice = make_user("alice", days_old=12)
    post = services.post_register(url="https://x.com/writer/status/1790000000000000001")
    services.vote_cast(voter=alice, post=post, value=1)  # the first vote on it: an early call
    client = Client()
    client.force_login(alice)
    before = client.get("/me/votes/").content.decode()
    assert "as every new voter starts" in before
    VoterCredibility.objects.create(voter=alice, credibility=0.42, flags={"proven": 0.25}, updated_at=timezone.now())
    page = client.get("/me/votes/").content.decode()
    assert "<strong>42%</strong>" in page and "of a full vote" in page
    assert "1 of your 1 vote was early" in page
    assert "Your account is 12 days old" in page and "25% of a full record" in page
    assert 'href="/rate-next/"' in page


def test_the_connect_page_offers_the_extension_and_says_when_none_answered():
    import io
    import zipfile

    alice = make_user("alice")
    client = Client(HTTP_HOST="localhost:8731")
    client.force_login(alice)
    page = client.get("/connect/").content.decode()
    assert 'href="/connect/merit-extension.zip"' in page and "Load unpacked" in page
    issued = client.post("/connect/", {"label": "Laptop"}).content.decode()
    assert "connect-timeout" in issued and "No extension answered." in issued
    archive = zipfile.ZipFile(io.BytesIO(client.get("/connect/merit-extension.zip").content))
    names = archive.namelist()
    assert "merit-extension/manifest.json" in names and not any("/tests/" in n for n in names)
    assert '"http://localhost:8731"' in archive.read("merit-extension/src/config.js").decode()


# --- In a real browser (Debian's headless Chromium) --------------------------------------------------------

def local_page(browser, live_server, **context):  # noqa: F811
    page = browser.new_context(**context).new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server.url) else route.abort())
    return page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_first_visit_on_a_non_default_port(browser, live_server):  # noqa: F811
    from urllib.parse import urlsplit

    port = urlsplit(live_server.url).port
    assert port != 8000  # the live server picks a free port, as `make run PORT=8731` would
    scored("https://x.com/writer/status/1790000000000000001")
    page = local_page(browser, live_server)
    page.goto(f"{live_server.url}/")
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    own = [h for h in hrefs if urlsplit(h).hostname in ("127.0.0.1", "localhost")]
    assert own and all(urlsplit(h).port == port for h in own), own
    card = page.goto(f"{live_server.url}/api/v1/authors/x/writer").json()
    assert card["url"] == f"{live_server.url}/a/x/writer/"
    problem = page.goto(f"{live_server.url}/api/v1/authors/x/nobody-here").json()
    assert problem["type"] == f"{live_server.url}/api/v1/problems/not-found"
    # The author page the card links to is there, on this port.
    page.goto(card["url"])
    assert page.locator("h1").inner_text() == "@writer"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_logged_out_paste_through_login(browser, live_server):  # noqa: F811
    make_user("alice")
    link = "https://x.com/writer/status/1790000000000000001"
    page = local_page(browser, live_server)
    page.goto(f"{live_server.url}/")
    page.fill("#id_url", link)
    page.click("button:has-text('Rate it')")
    page.wait_for_url("**/login/**")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_selector(".rate-card .alert-info:has-text('ready')")
    assert page.input_value("#id_url") == link  # the link survived the log-in
    page.click("button:has-text('Rate it')")
    page.wait_for_url("**/p/*/")
    assert page.locator(".post-card .handle, h1").first.is_visible()
    from votes.models import Post

    assert Post.objects.get().url == link


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_mobile_leaderboard_has_a_score_cell_inside_the_viewport_at_390px(browser, live_server):  # noqa: F811
    scored("https://bsky.app/profile/oceannotesandtides.bsky.social/post/3l4iqk2a3vc2b", score=81.0, status=Status.ESTABLISHED)
    scored("https://x.com/quietstatistics/status/1790000000000000002", score=62.0)
    scored("https://x.com/writer/status/1790000000000000001", score=44.0)
    page = local_page(browser, live_server, viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/leaderboard/")
    cells = page.locator(".board tbody .score-cell .rep-badge")
    assert cells.count() == 3
    for i in range(3):
        box = cells.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    # Nothing scrolls sideways: the page is as wide as the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_feed_card_updates_after_a_vote_without_a_reload(browser, live_server, celery_worker_thread):  # noqa: F811
    make_user("alice")
    post = services.post_register(url="https://x.com/writer/status/1790000000000000001")
    page = local_page(browser, live_server)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url(f"{live_server.url}/")
    page.evaluate("window.__sameDocument = true")
    quality = f"#quality-{post.pk}"
    assert "No votes yet" in page.inner_text(quality)
    page.click(f"#vote-{post.pk} .vote-up")
    # The worker counts the vote; the card asks again and shows it, in the same document.
    page.wait_for_selector(f"{quality}:has-text('1 vote (1 good, 0 poor)')", timeout=20_000)
    assert "Post quality" in page.inner_text(quality)
    assert page.evaluate("window.__sameDocument") is True


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_connect_page_says_so_when_no_extension_answered(browser, live_server):  # noqa: F811
    make_user("alice")
    page = local_page(browser, live_server)
    page.goto(f"{live_server.url}/login/?next=/connect/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_selector(".extension-detect:has-text('No Merit extension found')")
    assert page.get_attribute("a:has-text('Download the extension')", "href") == "/connect/merit-extension.zip"
    page.click("button:has-text('Connect this browser')")
    page.wait_for_selector(".connect-waiting")
    page.wait_for_selector(".connect-timeout:has-text('No extension answered')", timeout=10_000)
    assert page.is_hidden(".connect-waiting") and page.is_hidden(".connect-done")
