"""Accessibility in a real browser (Debian's headless Chromium): axe-core finds no serious or critical
violation on any page, logged out or in, and voting works from the keyboard alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from reputation.models import AuthorReputation, PostScore, ReputationSnapshot, Status, VoterCredibility
from tests.conftest import make_user
from tests.test_extension_e2e import chromium, open_page, playwright_driver, world, x_site  # noqa: F401  (fixtures)
from tests.test_web_browser import browser, log_in  # noqa: F401  (the fixture)
from votes import services
from votes.models import Author, Vote

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
BLOCKING = {"serious", "critical"}


def small_world() -> dict:
    """Every kind of thing a page can show: each reputation status, a post with and without votes, a
    voted and an own post, history with a real change, a flat day and a correction, a voter's credibility."""
    alice = make_user("alice")
    voter = make_user("bob")
    writer = services.post_register(url="https://x.com/writer/status/1790000000000000001")
    services.post_register(url="https://x.com/writer/status/1790000000000000003")
    other = services.post_register(url="https://x.com/other/status/1790000000000000002")
    fresh = services.post_register(url="https://bsky.app/profile/maria.bsky.social/post/3l4iqk2a3vc2b")
    mine = services.post_register(url="https://x.com/alice_posts/status/1790000000000000004")
    now = timezone.now()
    own = {"owner": alice}
    if any(f.name == "owner_verified_at" for f in Author._meta.fields):  # a verified claim (votes.claims)
        own["owner_verified_at"] = now
    Author.objects.filter(pk=mine.author.pk).update(**own)
    for author, score, status, votes in (
        (writer.author, 71.0, Status.ESTABLISHED, 52),
        (other.author, 34.0, Status.UNDER_REVIEW, 9),
        (mine.author, 55.0, Status.PROVISIONAL, 3),
    ):
        AuthorReputation.objects.create(
            author=author, score=score, low=score - 9, high=score + 8, upvotes=votes - 2, downvotes=2, voters=votes,
            effective_voters=votes * 0.83, status=status, updated_at=now, algorithm="merit-v5", percentile=60.0,
            explanation={"votes": votes, "voters": votes, "raw_weight": float(votes), "counted_weight": votes * 0.8,
                         "effective_voters": votes * 0.83, "prior_votes": 4.0},
        )
    AuthorReputation.objects.create(author=fresh.author, updated_at=now)
    PostScore.objects.create(post=writer, quality=73.0, upvotes=1, downvotes=0, updated_at=now)
    PostScore.objects.create(post=other, quality=30.0, upvotes=3, downvotes=7, updated_at=now)
    today = now.date()
    for back, score, note in ((6, 60.0, ""), (5, 60.2, ""), (4, 66.0, ""), (3, 66.1, ""),
                              (2, 63.0, "Correction: votes from a newly detected coordinated group stopped counting."),
                              (1, 71.0, "")):
        ReputationSnapshot.objects.create(author=writer.author, day=today - timedelta(days=back), score=score,
                                          low=score - 9, high=score + 8, votes=40 + back, note=note)
    # Written directly: vote_cast would queue refreshes, and a running worker (another test's) would replace the
    # reputations above with what two votes are worth.
    Vote.objects.create(voter=voter, post=writer, author=writer.author, value=1, created_at=now, updated_at=now)
    Vote.objects.create(voter=alice, post=other, author=other.author, value=-1, reason="misleading",
                        created_at=now, updated_at=now)
    VoterCredibility.objects.create(voter=alice, credibility=0.42)
    return {"alice": alice, "writer": writer, "other": other, "fresh": fresh, "mine": mine}


def blocking_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {node['target']} {node.get('failureSummary', '')[:160]}"
        for v in results.response["violations"] if v["impact"] in BLOCKING
        for node in v["nodes"]
    ]


def local_page(browser, live_server, **context):  # noqa: F811
    page = browser.new_context(**context).new_page()
    # Only the test server may be contacted.
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server.url) else route.abort())
    return page


def test_no_page_has_a_serious_accessibility_violation_logged_out_or_in(browser, live_server):  # noqa: F811
    made = small_world()
    writer, other, fresh = made["writer"], made["other"], made["fresh"]
    base = live_server.url
    found: dict[str, list[str]] = {}

    def scan(page, label: str, path: str | None, ready: str = "main") -> None:
        if path is not None:
            page.goto(base + path)
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        found[label] = blocking_violations(page)

    pages = [
        ("/", "main"), ("/leaderboard/", ".board"), ("/leaderboard/?platform=bluesky", "main"),
        ("/a/x/writer/", ".score-bar"), ("/a/x/other/", ".score-bar"), ("/a/bluesky/maria.bsky.social/", "main"),
        (f"/p/{writer.pk}/", ".post-card"), (f"/p/{other.pk}/", ".post-card"), ("/how-scores/", "main h1"),
        ("/api/v1/docs/", ".opblock"), ("/api/v1/redoc/", ".api-content h1"), ("/no-such-page/", "main"),
    ]
    for width in (1280, 390):
        page = local_page(browser, live_server, viewport={"width": width, "height": 900})
        for path, ready in [*pages, ("/login/", "form"), ("/signup/", "form")]:
            scan(page, f"{path} logged out at {width}px", path, ready)
        log_in(page, base, "alice")
        for path, ready in [*pages, ("/?show=unrated", "main"), ("/a/x/alice_posts/", "main"),
                            ("/me/votes/", "main"), ("/rate-next/", "main"), ("/connect/", "main")]:
            scan(page, f"{path} logged in at {width}px", path, ready)
        # States a visitor reaches on those pages: the open reason menu, a vote just cast, a fresh token.
        # (On the author without a score: the refresh this vote queues changes nothing the scan waits for.)
        page.goto(f"{base}/p/{fresh.pk}/")
        page.click(f"#vote-{fresh.pk} summary.vote-down")
        scan(page, f"reason menu open at {width}px", None, ".reason-menu")
        page.click(f"#vote-{fresh.pk} .reason-menu button[value=spam]")
        scan(page, f"after an htmx vote at {width}px", None, f"#vote-{fresh.pk} .vote-notice")
        page.goto(f"{base}/connect/")
        page.click("button:has-text('Connect this browser')")
        scan(page, f"/connect/ token issued at {width}px", None, ".connect-waiting")
        page.context.close()

    failing = "\n".join(f"{label}: {line}" for label, lines in found.items() for line in lines)
    assert not failing, failing
    assert len(found) >= 60  # every page above was scanned


def test_voting_works_from_the_keyboard_alone(browser, live_server):  # noqa: F811
    alice = make_user("alice")
    post = services.post_register(url="https://x.com/writer/status/1790000000000000001")
    page = local_page(browser, live_server)
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/p/{post.pk}/")
    box = f"#vote-{post.pk}"

    def tab_to(selector: str, limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
                return
        pytest.fail(f"Tab never reached {selector}")

    def focused(selector: str) -> bool:
        return page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector)

    tab_to(f"{box} .vote-up")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{box} .vote-up.is-on")
    assert Vote.objects.get(voter=alice, post=post).value == 1
    # The box was replaced; the focus is on the new button, not thrown back to the top of the page.
    page.wait_for_function("(s) => document.activeElement === document.querySelector(s)", arg=f"{box} .vote-up")

    # The reason menu: Space opens it, Tab walks into it, Enter picks a reason.
    tab_to(f"{box} summary.vote-down")
    page.keyboard.press("Space")
    page.wait_for_selector(f"{box} details[open] .reason-menu")
    tab_to(f"{box} .reason-menu button[value=low_effort]", limit=10)
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{box} .vote-down.is-on")
    vote = Vote.objects.get(voter=alice, post=post)
    assert (vote.value, vote.reason) == (-1, "low_effort")
    page.wait_for_function("(s) => document.activeElement === document.querySelector(s)", arg=f"{box} summary.vote-down")
    assert focused(f"{box} summary.vote-down")

    # Retract with Space on the focused button.
    tab_to(f"{box} .vote-retract")
    page.keyboard.press("Space")
    page.wait_for_selector(f"{box} :text('Vote retracted')")
    assert not Vote.objects.filter(voter=alice, post=post).exists()


def test_the_extensions_badges_and_vote_buttons_have_accessible_names(chromium, live_server, x_site, world):  # noqa: F811
    context, _ = chromium(live_server.url, x_site)
    page = open_page(context, f"{x_site}/home")
    page.wait_for_selector('[data-merit-handle="stranger"]', timeout=10_000)
    page.wait_for_selector("[data-merit-votes] button")
    names = dict(page.eval_on_selector_all(
        "article [data-merit-badge]", "els => els.map(e => [e.dataset.meritHandle, [e.getAttribute('role'), e.getAttribute('aria-label')]])"
    ))
    assert names["good_writer"][0] == "link"  # opens the author page: a link, reachable and named
    assert names["good_writer"][1].startswith("Merit reputation for @Good_Writer: ")
    assert names["newcomer"][1].endswith("(not enough votes yet)")
    assert names["stranger"] == ["img", "Merit: @stranger has no votes on Merit yet"]
    buttons = page.eval_on_selector_all("[data-merit-votes] button", "els => els.map(e => e.getAttribute('aria-label'))")
    assert buttons and set(buttons) == {"Good post (Merit)", "Poor post (Merit)"}
    # axe-core on what the extension added (the fixture page around it is not ours to judge).
    results = Axe().run(page, context={"include": [["[data-merit-badge]"], ["[data-merit-votes]"]]})
    serious = [(v["id"], n["target"]) for v in results.response["violations"] if v["impact"] in BLOCKING for n in v["nodes"]]
    assert serious == []
