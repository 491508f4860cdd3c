"""Post URLs per platform: which platform, which author, which post.

Adding a platform means adding a `Platform` entry here; the schema stores the
platform as a short code, so nothing else changes. User-supplied URLs are only
parsed, never fetched (no SSRF surface).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit


class PostURLError(ValueError):
    """A URL that does not name a post on a supported platform."""


@dataclass(frozen=True)
class PostRef:
    platform: str
    handle: str
    post_id: str
    url: str


@dataclass(frozen=True)
class Platform:
    code: str
    label: str
    hosts: frozenset[str]
    path: re.Pattern[str]
    handle: re.Pattern[str]
    post_id: re.Pattern[str]
    url_template: str

    def canonical_url(self, handle: str, post_id: str) -> str:
        return self.url_template.format(handle=handle, post_id=post_id)


PLATFORMS: dict[str, Platform] = {
    p.code: p
    for p in (
        Platform(
            code="x",
            label="X",
            hosts=frozenset({"x.com", "twitter.com", "mobile.twitter.com", "mobile.x.com"}),
            path=re.compile(r"^/(?P<handle>[A-Za-z0-9_]{1,15})/status(?:es)?/(?P<post_id>\d{1,20})(?:/.*)?$"),
            handle=re.compile(r"^[A-Za-z0-9_]{1,15}$"),
            post_id=re.compile(r"^\d{1,20}$"),
            url_template="https://x.com/{handle}/status/{post_id}",
        ),
        Platform(
            code="bluesky",
            label="Bluesky",
            hosts=frozenset({"bsky.app"}),
            path=re.compile(r"^/profile/(?P<handle>[A-Za-z0-9.\-]{3,253})/post/(?P<post_id>[a-z0-9]{5,32})/?$"),
            handle=re.compile(r"^[A-Za-z0-9.\-]{3,253}$"),
            post_id=re.compile(r"^[a-z0-9]{5,32}$"),
            url_template="https://bsky.app/profile/{handle}/post/{post_id}",
        ),
    )
}
PLATFORM_CHOICES = [(p.code, p.label) for p in PLATFORMS.values()]


def get_platform(code: str) -> Platform:
    try:
        return PLATFORMS[code]
    except KeyError:
        known = ", ".join(sorted(PLATFORMS))
        raise PostURLError(f"Unknown platform '{code}'. Supported platforms: {known}.") from None


def normalize_handle(platform: str, handle: str) -> str:
    handle = (handle or "").strip().lstrip("@")
    if not get_platform(platform).handle.match(handle):
        raise PostURLError(f"'{handle}' is not a valid {get_platform(platform).label} handle.")
    return handle


def validate_post_id(platform: str, post_id: str) -> str:
    post_id = str(post_id).strip()
    if not get_platform(platform).post_id.match(post_id):
        raise PostURLError(f"'{post_id}' is not a valid {get_platform(platform).label} post id.")
    return post_id


def parse_post_url(url: str) -> PostRef:
    """Return the post a URL names, or raise PostURLError saying what is wrong."""
    raw = (url or "").strip()
    if not raw:
        raise PostURLError("Paste the link of a post, e.g. https://x.com/jack/status/20.")
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https"):
        raise PostURLError("Post links must start with http:// or https://.")
    host = (parts.hostname or "").lower().removeprefix("www.")
    for platform in PLATFORMS.values():
        if host in platform.hosts:
            match = platform.path.match(parts.path)
            if not match:
                raise PostURLError(
                    f"This {platform.label} link does not point at a single post. "
                    f"Open the post and copy its link (it looks like {platform.canonical_url('name', '123' if platform.code == 'x' else 'abc123')})."
                )
            handle, post_id = match["handle"], match["post_id"]
            return PostRef(platform.code, handle, post_id, platform.canonical_url(handle, post_id))
    supported = ", ".join(sorted(h for p in PLATFORMS.values() for h in p.hosts))
    raise PostURLError(f"'{host or raw}' is not a supported site. Supported: {supported}.")
