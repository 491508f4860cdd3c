"""Post URLs per platform: which platform, which author, which post.

Adding a platform means adding a `Platform` entry here; the schema stores the
platform as a short code, so nothing else changes. User-supplied URLs are only
parsed, never fetched (no SSRF surface). Mastodon has no fixed host: any instance's
links are read (`Mastodon` below), and a post is known by its instance and status id.

Every grammar is one regular expression that the server checks and the OpenAPI schema publishes,
written to mean the same in Python and in JavaScript (ECMA-262, how schema patterns are read):
explicit character classes (Python's \\s, \\d and \\w also match other Unicode characters), \\A and \\Z
anchors (drf-spectacular publishes them as ^ and $; Python's $ also matches before a final newline),
letters spelled in both cases instead of a case-insensitive flag, and no named groups in what is published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

# The rest of a link after the post's own path: query, fragment or sub-page (/photo/1). Anything but
# controls and spaces. (Lone surrogates are not text: the API refuses them in every string, and a class
# that names them is not a valid pattern to some JSON Schema validators.)
_TAIL = r"(?:[/?#][^\x00-\x20\x7f-\x9f]*)?"

# X app routes that sit where a handle would (x.com/i/status/1, x.com/home): never handles. The same list
# as the extension's (extension/src/selectors.js RESERVED).
X_RESERVED_PATHS = frozenset({
    "home", "explore", "notifications", "messages", "i", "settings", "search", "compose",
    "login", "logout", "signup", "tos", "privacy", "jobs", "lists", "bookmarks", "communities",
})


def either_case(text: str) -> str:
    """A pattern for `text` in any letter case, without a flag (JavaScript has no inline (?i))."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in text)


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
    hosts: tuple[str, ...]
    handle_pattern: str  # unanchored
    post_id_pattern: str  # unanchored
    path_pattern: str  # with {handle} and {post_id}
    url_template: str
    example: str
    reserved: frozenset[str] = frozenset()  # lower-case words that fit the handle grammar but are not handles

    @property
    def author_pattern(self) -> str:
        """The handle grammar, unanchored, without the reserved words (before the end of a handle, `end`)."""
        if not self.reserved:
            return self.handle_pattern
        words = "|".join(either_case(w) for w in sorted(self.reserved))
        return rf"(?!(?:{words})(?:/|\Z)){self.handle_pattern}"

    def url_pattern(self, *, named: bool = False) -> str:
        """The grammar of this platform's post links, unanchored (named groups only for our own parsing)."""
        handle = f"(?P<handle>{self.author_pattern})" if named else f"(?:{self.author_pattern})"
        post_id = f"(?P<post_id>{self.post_id_pattern})" if named else f"(?:{self.post_id_pattern})"
        hosts = "|".join(either_case(h) for h in self.hosts)
        return (
            rf"(?:{either_case('http')}[Ss]?://)?(?:{either_case('www.')})?(?:{hosts})"
            + self.path_pattern.format(handle=handle, post_id=post_id) + _TAIL
        )

    @cached_property
    def handle(self) -> re.Pattern[str]:
        return re.compile(rf"\A{self.author_pattern}\Z")

    @cached_property
    def post_id(self) -> re.Pattern[str]:
        return re.compile(rf"\A{self.post_id_pattern}\Z")

    @cached_property
    def url(self) -> re.Pattern[str]:
        return re.compile(rf"\A{self.url_pattern(named=True)}\Z")

    def canonical_url(self, handle: str, post_id: str) -> str:
        return self.url_template.format(handle=handle, post_id=post_id)

    def ref_from(self, match: re.Match[str]) -> tuple[str, str]:
        """(handle, post id) from a match of `url`, in their stored form."""
        return match["handle"], match["post_id"]

    def clean_handle(self, handle: str) -> str:
        """A valid handle in its stored form (some platforms fold part of it to lower case)."""
        return handle

    def clean_post_id(self, post_id: str) -> str:
        return post_id


# Mastodon (and the fediverse servers that share its links). A user name is letters, digits and _ (dots and
# dashes inside); an instance is a host name of 2-5 labels (bounded, so that user@instance fits a handle's
# 253 characters and instance:status-id a post id's 255).
_MASTODON_USER = "[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,28}[A-Za-z0-9_])?"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?"
_INSTANCE = rf"(?:{_LABEL}\.){{1,4}}{_LABEL}"
_STATUS_ID = "[0-9]{1,20}"


@dataclass(frozen=True)
class Mastodon(Platform):
    """Links on any instance: /@user/<id>, /@user@home-instance/<id> (a remote author, as another instance
    shows them) and /users/user/statuses/<id>. The author is user@home-instance; the post is the instance's
    status id ("instance:id": an instance numbers the statuses it shows, its own and remote ones)."""

    excluded_hosts: tuple[str, ...] = ()  # other platforms' sites, whose links are never Mastodon's

    def url_pattern(self, *, named: bool = False) -> str:
        def group(name: str, pattern: str) -> str:
            return f"(?P<{name}>{pattern})" if named else f"(?:{pattern})"

        others = "|".join(either_case(h) for h in self.excluded_hosts)
        return (
            rf"(?:{either_case('http')}[Ss]?://)?(?!(?:{either_case('www.')})?(?:{others})/)"
            + group("instance", _INSTANCE)
            + "(?:/@" + group("user", _MASTODON_USER) + "(?:@" + group("home", _INSTANCE) + ")?/"
            + group("status", _STATUS_ID)
            + "|/users/" + group("local_user", _MASTODON_USER) + "/statuses/" + group("local_status", _STATUS_ID)
            + ")" + _TAIL
        )

    def ref_from(self, match: re.Match[str]) -> tuple[str, str]:
        instance = match["instance"].lower()
        user = match["user"] or match["local_user"]
        home = (match["home"] or instance).lower()
        return f"{user}@{home}", f"{instance}:{match['status'] or match['local_status']}"

    def clean_handle(self, handle: str) -> str:
        user, _, home = handle.partition("@")
        return f"{user}@{home.lower()}"

    def clean_post_id(self, post_id: str) -> str:
        return post_id.lower()

    def canonical_url(self, handle: str, post_id: str) -> str:
        """https://<instance>/@<user>/<id>, or /@<user>@<home>/<id> for an author from another instance (the
        address that instance itself gives the post)."""
        instance, _, status = post_id.partition(":")
        user, _, home = handle.partition("@")
        account = user if home.lower() == instance.lower() else f"{user}@{home.lower()}"
        return f"https://{instance.lower()}/@{account}/{status}"


PLATFORMS: dict[str, Platform] = {
    p.code: p
    for p in (
        Platform(
            code="x",
            label="X",
            hosts=("x.com", "twitter.com", "mobile.twitter.com", "mobile.x.com"),
            handle_pattern="[A-Za-z0-9_]{1,15}",
            post_id_pattern="[0-9]{1,20}",
            path_pattern="/{handle}/status(?:es)?/{post_id}",
            url_template="https://x.com/{handle}/status/{post_id}",
            example="https://x.com/name/status/123",
            reserved=X_RESERVED_PATHS,
        ),
        Platform(
            code="bluesky",
            label="Bluesky",
            hosts=("bsky.app",),
            # A handle (a domain name), or the account's DID, which links use when the handle is unknown.
            handle_pattern="(?:[A-Za-z0-9.-]{3,253}|did:plc:[a-z2-7]{24}|did:web:[A-Za-z0-9.-]{1,245})",
            post_id_pattern="[a-z0-9]{5,32}",
            path_pattern="/profile/{handle}/post/{post_id}",
            url_template="https://bsky.app/profile/{handle}/post/{post_id}",
            example="https://bsky.app/profile/name.bsky.social/post/abc123",
        ),
        Mastodon(
            code="mastodon",
            label="Mastodon",
            hosts=(),  # any instance
            handle_pattern=f"{_MASTODON_USER}@{_INSTANCE}",
            post_id_pattern=f"{_INSTANCE}:{_STATUS_ID}",
            path_pattern="",
            url_template="",
            example="https://mastodon.social/@name/123",
            excluded_hosts=("x.com", "twitter.com", "mobile.twitter.com", "mobile.x.com", "bsky.app"),
        ),
    )
}
PLATFORM_CHOICES = [(p.code, p.label) for p in PLATFORMS.values()]

# What the API accepts, across platforms (the schema publishes these; per-platform rules come on top).
POST_URL_PATTERN = r"\A(?:" + "|".join(f"(?:{p.url_pattern()})" for p in PLATFORMS.values()) + r")\Z"
HANDLE_PATTERN = r"\A@?(?:" + "|".join(f"(?:{p.author_pattern})" for p in PLATFORMS.values()) + r")\Z"
POST_ID_PATTERN = r"\A(?:" + "|".join(f"(?:{p.post_id_pattern})" for p in PLATFORMS.values()) + r")\Z"


def is_did(handle: str) -> bool:
    """A Bluesky account named by its DID rather than its handle."""
    return handle.startswith("did:")


def may_be_same_author(known: str, claimed: str) -> bool:
    """Whether a post known as `known`'s may be claimed for `claimed`: the same handle (in any case), or a
    DID against a handle, which cannot be told apart as one account without asking Bluesky."""
    return known.lower() == claimed.lower() or is_did(known) != is_did(claimed)


def get_platform(code: str) -> Platform:
    try:
        return PLATFORMS[code]
    except KeyError:
        known = ", ".join(sorted(PLATFORMS))
        raise PostURLError(f"Unknown platform '{code}'. Supported platforms: {known}.") from None


def normalize_handle(platform: str, handle: str) -> str:
    spec = get_platform(platform)
    handle = (handle or "").strip().lstrip("@")
    if handle.lower() in spec.reserved:
        raise PostURLError(f"'{handle}' is an {spec.label} page, not a handle.")
    if not spec.handle.match(handle):
        raise PostURLError(f"'{handle}' is not a valid {spec.label} handle.")
    return spec.clean_handle(handle)


def validate_post_id(platform: str, post_id: str) -> str:
    post_id = str(post_id).strip()
    spec = get_platform(platform)
    if not spec.post_id.match(post_id):
        raise PostURLError(f"'{post_id}' is not a valid {spec.label} post id.")
    return spec.clean_post_id(post_id)


def parse_post_url(url: str) -> PostRef:
    """Return the post a pasted link names (surrounding whitespace ignored), or raise PostURLError saying
    what is wrong."""
    return match_post_url((url or "").strip())


def match_post_url(text: str) -> PostRef:
    """`text` exactly as POST_URL_PATTERN reads it: the post it names, or PostURLError saying what is wrong."""
    for platform in PLATFORMS.values():
        match = platform.url.match(text)
        if match:
            handle, post_id = platform.ref_from(match)
            return PostRef(platform.code, handle, post_id, platform.canonical_url(handle, post_id))
    raise PostURLError(_why_not_a_post(text))


NOT_A_LINK = "That is not a link to a post. Paste the address of a post, e.g. https://x.com/jack/status/20."
# A first word that could be meant as a link: a scheme, or a dotted host name before any path.
_LINKISH = re.compile(r"[^/?#]*://|[^/?#.]+\.[^/?#]+(?:[/?#]|\Z)")


def _why_not_a_post(text: str) -> str:
    """What is wrong with a link that matches no platform's grammar, in words a person can act on."""
    if not text:
        return "Paste the link of a post, e.g. https://x.com/jack/status/20."
    words = text.split()
    if not words or not _LINKISH.match(words[0]):
        return NOT_A_LINK
    if any(c.isspace() or not c.isprintable() for c in text):
        return "A post link has no spaces, line breaks or control characters; paste the link alone."
    try:
        parts = urlsplit(text if "://" in text else "https://" + text)
        host = (parts.hostname or "").lower()
    except ValueError:
        return NOT_A_LINK
    if parts.scheme.lower() not in ("http", "https"):
        return "Post links must start with http:// or https://."
    site = host.removeprefix("www.")
    for platform in PLATFORMS.values():
        if site not in platform.hosts:
            continue
        if parts.netloc.lower().removeprefix("www.") != site:
            return f"Give the {platform.label} link as the site shows it, without a user name or port."
        first = parts.path.split("/")[1] if parts.path.count("/") > 1 else ""
        if first.lower() in platform.reserved:
            return (
                f"{platform.label} links that start {site}/{first}/ do not say who wrote the post, and Merit rates "
                f"posts by their author. Open the post and copy its link from the address bar or the Share menu "
                f"(it looks like {platform.example})."
            )
        return _not_one_post(platform)
    mastodon = PLATFORMS["mastodon"]
    if parts.path.startswith(("/@", "/users/")):  # a Mastodon instance's address shape
        if parts.netloc.lower() != host:
            return "Give the Mastodon link as the instance shows it, without a user name or port."
        return _not_one_post(mastodon)
    fixed = "; ".join(
        f"{p.label} ({', '.join(p.hosts)})" for p in PLATFORMS.values() if p.hosts
    )
    return (
        f"'{host or text}' is not a supported site. Supported: {fixed}; and any Mastodon instance "
        f"(links like {mastodon.example})."
    )


def _not_one_post(platform: Platform) -> str:
    return (
        f"This {platform.label} link does not point at a single post. "
        f"Open the post and copy its link (it looks like {platform.example})."
    )
