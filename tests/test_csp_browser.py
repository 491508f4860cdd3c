"""The Content-Security-Policy in a real browser (Debian's headless Chromium): enforced, and the pages,
htmx and the API docs run under it without a single violation."""

from __future__ import annotations

import pytest

from reputation.models import AuthorReputation, Status
from tests.conftest import make_user
from tests.test_web_browser import browser, log_in  # noqa: F401  (the fixture)
from votes import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every violation the page reports, and every console line about the policy.
WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def watched_page(browser, live_server):  # noqa: F811
    context = browser.new_context()
    context.add_init_script(WATCH)
    page = context.new_page()
    # Only the test server may be contacted: a page that needs another origin fails here too.
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server.url) else route.abort())
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None)
    return page, console


def directives(header: str) -> dict[str, str]:
    return dict(part.strip().partition(" ")[::2] for part in header.split(";"))


def violations(page, console) -> list[str]:
    return [*page.evaluate("window.__cspViolations"), *console]


def test_the_policy_is_enforced_so_injected_inline_code_does_not_run(browser, live_server):  # noqa: F811
    page, console = watched_page(browser, live_server)
    response = page.goto(f"{live_server.url}/")
    policy = directives(response.headers["content-security-policy"])
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'" and policy["object-src"] == "'none'"

    # What an HTML injection would add: an inline script and an inline style. Neither may apply.
    page.evaluate("""() => {
        const s = document.createElement("script"); s.textContent = "window.__injected = true"; document.head.append(s);
        const st = document.createElement("style"); st.textContent = "body { display: none }"; document.head.append(st);
    }""")
    assert page.evaluate("window.__injected") is None
    assert page.evaluate("getComputedStyle(document.body).display") != "none"
    found = violations(page, console)
    assert any(v.startswith("script-src") for v in found) and any(v.startswith("style-src") for v in found), found


def test_pages_htmx_and_the_api_docs_run_without_csp_violations(browser, live_server):  # noqa: F811
    make_user("alice")
    post = services.post_register(url="https://x.com/writer/status/1790000000000000001")
    # Voted on below; a worker refreshing its author must not change the score bars checked here.
    voted = services.post_register(url="https://x.com/other/status/1790000000000000002")
    AuthorReputation.objects.create(author=post.author, score=64.0, low=51.0, high=77.0, upvotes=9, voters=9,
                                    effective_voters=6.5, status=Status.PROVISIONAL)
    page, console = watched_page(browser, live_server)
    base = live_server.url
    seen: dict[str, list[str]] = {}

    def visit(path: str, ready: str) -> None:
        page.goto(base + path)
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        seen[path] = violations(page, console)
        page.evaluate("window.__cspViolations = []")
        console.clear()

    visit("/signup/", "form")
    visit("/login/", "form")
    log_in(page, base, "alice")
    visit("/", f"#vote-{voted.pk}")
    # An htmx swap under the policy: the vote box is replaced in place.
    page.click(f"#vote-{voted.pk} .vote-up")
    page.wait_for_selector(f"#vote-{voted.pk} .vote-up.is-on")
    seen["/ (htmx vote)"] = violations(page, console)
    visit(f"/p/{post.pk}/", ".score-bar")
    visit("/a/x/writer/", ".score-bar .score-marker")
    visit("/leaderboard/", ".score-bar-compact")
    visit("/me/votes/", "main")
    visit("/rate-next/", "main")
    page.goto(base + "/connect/")
    page.click("button:has-text('Connect this browser')")  # the page that waits for the extension
    page.wait_for_selector(".connect-waiting")
    seen["/connect/ (token issued)"] = violations(page, console)
    # Swagger UI renders the schema's operations: its scripts ran and fetched the schema.
    visit("/api/v1/docs/", ".opblock")
    # ReDoc (not linked from the site) may add inline styles, nothing else.
    policy = directives(page.goto(base + "/api/v1/redoc/").headers["content-security-policy"])
    assert policy["style-src"] == "'self' 'unsafe-inline'" and "unsafe" not in policy["script-src"]
    visit("/api/v1/redoc/", ".api-content h1")
    # Its attribution logo comes from its vendor's CDN; the policy keeps it out (and ReDoc hides it).
    seen["/api/v1/redoc/"] = [v for v in seen["/api/v1/redoc/"] if "cdn.redoc.ly/redoc/logo-mini.svg" not in v]

    assert {path: found for path, found in seen.items() if found} == {}
    # The score bar kept its geometry without style attributes.
    box = page.goto(base + "/a/x/writer/") and page.locator(".score-bar .score-band").bounding_box()
    track = page.locator(".score-bar .score-track").bounding_box()
    assert box and track and abs(box["x"] - (track["x"] + 0.51 * track["width"])) < 2


def test_responses_that_are_not_pages_get_a_policy_that_allows_nothing():
    from django.test import Client

    for path in ("/api/v1/authors?handles=a", "/api/v1/schema/", "/healthz", "/metrics"):
        assert Client().get(path)["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'", path
    assert "script-src 'self'" in Client().get("/login/")["Content-Security-Policy"]
