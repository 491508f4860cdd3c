"""Reputation badges: /badge/<platform>/<handle>.svg, for an author's bio, site or README.

A small SVG rendered from templates/votes/badge.svg (autoescaped: a handle never becomes markup), with the
Merit mark, the score, its 90% interval and the status in words. Badges are embedded on other sites and
fetched through image proxies, so they answer conditional GETs (ETag and Last-Modified, 304), may be cached
for a few minutes by anyone, may be loaded from any origin, and are throttled per client like the API's
public reads. An author Merit does not know gets a "not rated" badge with status 404, not an error page.
"""

from __future__ import annotations

import hashlib
import time

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date

from api.throttles import hit
from config.ops.metrics import THROTTLED
from config.ops.net import client_ip
from reputation.models import AuthorReputation, Status

from .models import Author
from .platforms import PLATFORMS

VERSION = "1"  # part of every ETag: a change to the badge's look must not be answered with 304
MAX_AGE = 300
STATUS_WORDS: dict[str, str] = {  # by AuthorReputation.status (Status members are its strings)
    Status.INSUFFICIENT: "too few votes yet",
    Status.PROVISIONAL: "provisional",
    Status.ESTABLISHED: "established",
    Status.UNDER_REVIEW: "under review",
    Status.CONTESTED: "contested",
}
# Colours of the score part by band (as the site's tones: good >= 65, poor < 40), all with white text at
# a contrast of at least 4.5:1.
BAND_COLOURS = {"good": "#1b7a43", "mixed": "#8a5a00", "poor": "#b42318", "none": "#5b6472"}
CHAR_WIDTH = 6.6  # average advance of an 11px sans-serif character, enough to size the box
LABEL = "Merit"


def badge(request: HttpRequest, platform: str, handle: str) -> HttpResponse:
    window = hit("badge", client_ip(request))
    if window.count > window.limit:
        THROTTLED.labels("badge").inc()
        refused = HttpResponse("Too many badge requests; try again shortly.\n", status=429,
                               content_type="text/plain; charset=utf-8")
        refused["Retry-After"] = str(max(1, window.reset - int(time.time())))
        return refused
    author = _author(platform, handle)
    rep = getattr(author, "reputation", None) if author else None
    context = badge_context(author, rep, handle)
    etag = '"' + hashlib.sha256(repr((VERSION, sorted(context.items()))).encode()).hexdigest()[:32] + '"'
    changed = (rep.updated_at if rep and rep.updated_at else author.first_seen) if author else None
    last_modified = int(changed.timestamp()) if changed else None
    not_modified = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if not_modified is not None:
        window.refund()  # as the API does: a 304 costs the client no quota
        response = not_modified
    else:
        body = render_to_string("votes/badge.svg", context, request=request)
        response = HttpResponse(body, content_type="image/svg+xml; charset=utf-8", status=200 if author else 404)
    response["ETag"] = etag
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified)
    response["Cache-Control"] = f"public, max-age={MAX_AGE}"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"  # embedded on other sites
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _author(platform: str, handle: str) -> Author | None:
    if platform not in PLATFORMS:
        return None
    return (
        Author.objects.with_handles(platform, [handle.lstrip("@")]).select_related("reputation").first()
    )


def badge_context(author: Author | None, rep: AuthorReputation | None, handle: str) -> dict:
    """What the badge says, as plain values (also what its ETag is made of)."""
    if author is None:
        value, words, band = "not rated", "not rated on Merit", "none"
        name = handle
    elif rep is None or rep.status == Status.INSUFFICIENT:
        value, words, band = "too few votes yet", "too few votes yet to judge", "none"
        name = author.handle
    else:
        score, low, high = round(rep.score), round(rep.low), round(rep.high)
        status = STATUS_WORDS.get(rep.status, rep.status.replace("_", " "))
        value = f"{score} ({low}\u2013{high}) {status}"
        words = f"{score} out of 100, 90% interval {low} to {high}, {status}"
        band = "good" if rep.score >= 65 else "poor" if rep.score < 40 else "mixed"
        name = author.handle
    label_width = 22 + round(len(LABEL) * CHAR_WIDTH) + 10
    value_width = round(len(value) * CHAR_WIDTH) + 16
    return {
        "label": LABEL,
        "value": value,
        "title": f"Merit reputation of @{name}: {words}",
        "colour": BAND_COLOURS[band],
        "label_width": label_width,
        "value_width": value_width,
        "width": label_width + value_width,
        # Strings, so that no locale setting ever writes a decimal comma into the SVG.
        "label_x": f"{22 + (label_width - 22) / 2 - 2:.1f}",
        "value_x": f"{label_width + value_width / 2:.1f}",
    }


def badge_paths(author: Author) -> tuple[str, str]:
    """(badge path, author page path) on this site."""
    return (
        reverse("badge", kwargs={"platform": author.platform, "handle": author.handle}),
        reverse("author", kwargs={"platform": author.platform, "handle": author.handle}),
    )
