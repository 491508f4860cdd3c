"""What a post says, from each platform's public, keyless endpoint: the fetchers, and the preview they fill.

One fetcher per platform turns a post's canonical URL into a `Fetched` (text, author, time, first image)
or says the post is gone (`deleted` / `private`); anything that may work next time (network, timeouts,
5xx, 429, an answer we cannot read) raises FetchFailed. Proof posts for handle claims (votes.claims) go
through the same fetchers, so a proof is read exactly as a preview is.

Platform HTML (X's oEmbed, Mastodon's content) is reduced to plain text with nh3 (a maintained sanitizer)
before anything is stored; templates escape that text again. Endpoints are settings
(PREVIEW_X_OEMBED_URL, PREVIEW_BLUESKY_API_URL, PREVIEW_MASTODON_URL_TEMPLATE) so tests point them at a
local fake server. Mastodon instance hosts come from pasted links, so they must resolve to public
addresses (PREVIEW_ALLOW_PRIVATE_HOSTS lifts that in development) and redirects are never followed.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import nh3
import requests
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .models import Post, PostPreview, PreviewStatus
from .signals import announce_posts_changed

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 512 * 1024
MAX_TEXT_CHARS = 5000
MAX_NAME_CHARS = 200
EXTENSION_TEXT_MAX = 1000  # what the extension may send (api.serializers checks it, 400 above)
USER_AGENT = "MeritPreviewBot/1.0 (+https://github.com/merit; post previews)"
GONE = {404: PreviewStatus.DELETED, 410: PreviewStatus.DELETED, 401: PreviewStatus.PRIVATE, 403: PreviewStatus.PRIVATE}
# Statuses a fetch may still change, and those it may no longer downgrade.
OPEN_STATUSES = (PreviewStatus.PENDING, PreviewStatus.FAILED, PreviewStatus.FROM_EXTENSION)


class FetchFailed(Exception):
    """The platform did not answer usefully this time; worth trying again later."""


class NotFetchable(Exception):
    """This post cannot be fetched at all (no fetcher for its platform, a private instance address)."""


@dataclass(frozen=True)
class Fetched:
    status: str  # ok, deleted or private
    text: str = ""
    author_name: str = ""
    author_handle: str = ""  # as the platform names the posting account (X handle, Bluesky handle, user@instance)
    author_id: str = ""  # the account's stable id where the platform has one (Bluesky DID)
    created_at: datetime | None = None  # the time the post shows
    published_at: datetime | None = None  # a time the platform itself recorded (proof ordering); may equal created_at
    image_url: str = ""


# ---------- text ----------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Text as stored: no control characters (newlines kept), at most three line breaks in a row, bounded."""
    text = _CONTROL.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text)).strip()
    return text[:limit]


def html_to_text(markup: str) -> str:
    """A platform's HTML as plain text: nh3 keeps only <p> and <br> (scripts, styles and their contents,
    attributes and every other tag are gone), then paragraphs and breaks become line breaks."""
    cleaned = nh3.clean(markup or "", tags={"p", "br"}, attributes={}, strip_comments=True)
    cleaned = cleaned.replace("<br>", "\n").replace("</p>", "\n\n").replace("<p>", "")
    # nh3 left only those tags; what remains is escaped text.
    return plain(html.unescape(nh3.clean(cleaned, tags=set())))


def _time(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------- HTTP ----------


def _get(url: str, params: dict | None = None) -> tuple[int, object]:
    """(status, parsed JSON or None) of one GET; FetchFailed on anything transient."""
    timeout = settings.PREVIEW_TIMEOUT_SECONDS
    try:
        with requests.get(
            url, params=params, timeout=(min(timeout, 3.0), timeout), allow_redirects=False, stream=True,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        ) as response:
            if response.status_code in GONE or response.status_code == 400:
                return response.status_code, _json(response, strict=False)
            if response.status_code != 200:
                raise FetchFailed(f"{urlsplit(url).hostname} answered {response.status_code}")
            return 200, _json(response, strict=True)
    except requests.RequestException as exc:
        raise FetchFailed(f"{urlsplit(url).hostname}: {type(exc).__name__}") from None


def _json(response: requests.Response, *, strict: bool):
    body = b""
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise FetchFailed("answer too large")
    try:
        return json.loads(body)
    except ValueError:
        if strict:
            raise FetchFailed("answer is not JSON") from None
        return None


def _check_public_host(url: str) -> None:
    """Mastodon hosts come from pasted links: refuse loopback, private and other non-global addresses."""
    if settings.PREVIEW_ALLOW_PRIVATE_HOSTS:
        return
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise NotFetchable("Mastodon instances are fetched over https only.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        raise FetchFailed(f"{parts.hostname} does not resolve") from None
    if not infos or not all(ipaddress.ip_address(info[4][0]).is_global for info in infos):
        raise NotFetchable(f"{parts.hostname} is not a public address.")


# ---------- X (oEmbed) ----------

_X_URL = re.compile(r"\Ahttps://(?:x|twitter)\.com/([A-Za-z0-9_]{1,15})/status/([0-9]{1,20})")
_X_DATE = re.compile(r"([A-Z][a-z]+ [0-9]{1,2}, [0-9]{4})\s*\Z")
X_EPOCH_MS = 1288834974657  # snowflake ids carry their creation time in milliseconds since this


def x_snowflake_time(post_id: str) -> datetime | None:
    """When an X post was created, from its id (exact to the millisecond; ids before late 2010 carry none)."""
    value = int(post_id)
    if value < 1 << 32:
        return None
    return datetime.fromtimestamp(((value >> 22) + X_EPOCH_MS) / 1000, tz=UTC)


def fetch_x(url: str) -> Fetched:
    match = _X_URL.match(url)
    if not match:
        raise NotFetchable(f"not an X post link: {url}")
    status, data = _get(settings.PREVIEW_X_OEMBED_URL, {"url": url, "omit_script": "1", "dnt": "true"})
    if status != 200:
        return Fetched(status=GONE.get(status, PreviewStatus.DELETED))
    if not isinstance(data, dict) or not isinstance(data.get("html"), str):
        raise FetchFailed("oEmbed answer without html")
    # The blockquote is "<p>text</p>&mdash; Name (@handle) <a>Month D, YYYY</a>": the text is the paragraph.
    cleaned = nh3.clean(data["html"], tags={"p", "br"}, attributes={})
    body, _, tail = cleaned.partition("</p>")
    text = html_to_text(body + "</p>")
    tail_text = html.unescape(nh3.clean(tail, tags=set())).strip()
    author_url = data.get("author_url") if isinstance(data.get("author_url"), str) else ""
    handle = urlsplit(author_url).path.strip("/").split("/")[0] if author_url else ""
    created = x_snowflake_time(match[2])
    if created is None and (day := _X_DATE.search(tail_text)):
        created = datetime.strptime(day[1], "%B %d, %Y").replace(tzinfo=UTC)
    return Fetched(
        status=PreviewStatus.OK, text=text, author_name=plain(str(data.get("author_name") or ""), MAX_NAME_CHARS),
        author_handle=handle, created_at=created, published_at=created,
    )


# ---------- Bluesky (public AppView) ----------

_BSKY_URL = re.compile(r"\Ahttps://bsky\.app/profile/([^/]+)/post/([a-z0-9]{1,64})")


def fetch_bluesky(url: str) -> Fetched:
    match = _BSKY_URL.match(url)
    if not match:
        raise NotFetchable(f"not a Bluesky post link: {url}")
    actor, rkey = match[1], match[2]
    base = settings.PREVIEW_BLUESKY_API_URL.rstrip("/")
    did = actor
    if not actor.startswith("did:"):
        status, data = _get(f"{base}/com.atproto.identity.resolveHandle", {"handle": actor})
        if status != 200:  # 400 "Unable to resolve handle": no such account any more
            return Fetched(status=GONE.get(status, PreviewStatus.DELETED))
        did = data.get("did") if isinstance(data, dict) else None
        if not isinstance(did, str) or not did.startswith("did:"):
            raise FetchFailed("resolveHandle answered without a DID")
    status, data = _get(f"{base}/app.bsky.feed.getPosts", {"uris": f"at://{did}/app.bsky.feed.post/{rkey}"})
    if status != 200:
        return Fetched(status=GONE.get(status, PreviewStatus.DELETED))
    posts = data.get("posts") if isinstance(data, dict) else None
    if not isinstance(posts, list):
        raise FetchFailed("getPosts answered without posts")
    if not posts:  # the AppView leaves out posts that were deleted
        return Fetched(status=PreviewStatus.DELETED)
    post = _object(posts[0])
    record = _object(post.get("record"))
    author = _object(post.get("author"))
    indexed = _time(post.get("indexedAt"))  # the AppView's clock; createdAt is whatever the client wrote
    return Fetched(
        status=PreviewStatus.OK, text=plain(str(record.get("text") or "")),
        author_name=plain(str(author.get("displayName") or ""), MAX_NAME_CHARS),
        author_handle=str(author.get("handle") or ""), author_id=str(author.get("did") or ""),
        created_at=_time(record.get("createdAt")) or indexed, published_at=indexed, image_url=_bluesky_image(post),
    )


def _bluesky_image(post: dict) -> str:
    embed = _object(post.get("embed"))
    if isinstance(embed.get("media"), dict):  # app.bsky.embed.recordWithMedia#view
        embed = embed["media"]
    images = _array(embed.get("images"))
    first = images[0] if images and isinstance(images[0], dict) else {}
    return _http_url(first.get("fullsize") or first.get("thumb"))


def _object(value: object) -> dict:
    """A JSON value that should be an object: itself, or an empty one."""
    return value if isinstance(value, dict) else {}


def _array(value: object) -> list:
    """A JSON value that should be an array: itself, or an empty one."""
    return value if isinstance(value, list) else []


def _http_url(value) -> str:
    return value if isinstance(value, str) and value.startswith("https://") and len(value) <= 1000 else ""


# ---------- Mastodon (an instance's public API) ----------

# https://<instance>/@<user>/<id>, or /@<user>@<home-instance>/<id> for a remote account seen there.
_MASTODON_URL = re.compile(r"\Ahttps://([A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?)/@([^/@]+)(?:@([^/]+))?/([0-9]{1,20})")


def fetch_mastodon(url: str) -> Fetched:
    match = _MASTODON_URL.match(url)
    if not match:
        raise NotFetchable(f"not a Mastodon post link: {url}")
    instance, status_id = match[1].lower(), match[4]
    endpoint = settings.PREVIEW_MASTODON_URL_TEMPLATE.format(instance=instance, id=quote(status_id))
    _check_public_host(endpoint)
    status, data = _get(endpoint)
    if status != 200:
        return Fetched(status=GONE.get(status, PreviewStatus.DELETED))
    if not isinstance(data, dict) or not isinstance(data.get("content"), str):
        raise FetchFailed("status answer without content")
    account = _object(data.get("account"))
    acct = str(account.get("acct") or "")
    text = html_to_text(data["content"])
    if isinstance(data.get("spoiler_text"), str) and data["spoiler_text"].strip():
        text = plain(f"Content warning: {data['spoiler_text']}\n\n{text}")
    created = _time(data.get("created_at"))
    media = _array(data.get("media_attachments"))
    image = next((m.get("url") for m in media if isinstance(m, dict) and m.get("type") == "image"), None)
    return Fetched(
        status=PreviewStatus.OK, text=text,
        author_name=plain(str(account.get("display_name") or account.get("username") or ""), MAX_NAME_CHARS),
        author_handle=acct if "@" in acct else f"{acct}@{instance.split(':')[0]}",
        author_id=str(account.get("url") or ""), created_at=created, published_at=created, image_url=_http_url(image),
    )


FETCHERS = {"x": fetch_x, "bluesky": fetch_bluesky, "mastodon": fetch_mastodon}


def fetch(platform: str, url: str) -> Fetched:
    """The post at this canonical URL, from its platform. FetchFailed (try later) or NotFetchable (never)."""
    fetcher = FETCHERS.get(platform)
    if fetcher is None:
        raise NotFetchable(f"no preview fetcher for platform '{platform}'")
    return fetcher(url)


# ---------- the stored preview ----------


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failures in a row: doubling from the base, capped."""
    return min(settings.PREVIEW_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.PREVIEW_RETRY_MAX_SECONDS)


def preview_request(*, post_id: int) -> None:
    """A new post wants a preview: its row now (in the caller's transaction), a dispatch after commit."""
    from .services import _insert  # the voting path's one-statement insert

    now = timezone.now()
    _insert(PostPreview, if_absent=True, post=post_id, status=PreviewStatus.PENDING, text="", author_name="",
            image_url="", attempts=0, next_attempt_at=now)
    transaction.on_commit(previews_dispatch_soon, robust=True)


# New posts are handed to the worker in bursts: a vote on a new post publishes nothing when a dispatch is
# already queued (one SET NX in the shared cache, ~0.2 ms, instead of a publish per post, ~0.8 ms measured).
DISPATCH_FLAG = "previews:dispatch-queued"
DISPATCH_DELAY = 0.5  # seconds the dispatch waits, gathering the posts registered meanwhile
# A flag whose dispatch was lost lapses after this. Without Redis each process has its own cache, so the
# worker cannot clear a web process's flag: a dispatch that queued anything runs once more this much later
# (votes.tasks.dispatch_previews), for the posts whose dispatch that stale flag held back.
DISPATCH_FLAG_TTL = 2


def previews_dispatch_soon() -> None:
    """Queue one dispatch of the new posts' fetches, unless one is queued already."""
    from .tasks import dispatch_previews

    # False: a dispatch is queued. None: the cache is down (django-redis ignores its errors), so publish anyway.
    if cache.add(DISPATCH_FLAG, 1, timeout=DISPATCH_FLAG_TTL) is False:
        return
    try:
        dispatch_previews.apply_async(countdown=DISPATCH_DELAY)
    except Exception:  # broker down or hung: the rows wait for the sweep (next_attempt_at)
        log.warning("could not enqueue the preview dispatch; the sweep will pick the posts up", exc_info=True)
        cache.delete(DISPATCH_FLAG)


def previews_dispatch(*, limit: int = 2000) -> int:
    """Queue a fetch for every new post waiting for its first one; the number queued.

    The flag goes first, so a post committed from now on queues another dispatch, and one committed before
    is seen here. Rows are claimed (next_attempt_at pushed past the sweep's grace) as they are queued.
    """
    cache.delete(DISPATCH_FLAG)
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            PostPreview.objects.select_for_update(skip_locked=True)
            .filter(status__in=(PreviewStatus.PENDING, PreviewStatus.FROM_EXTENSION), attempts=0,
                    fetched_at__isnull=True, next_attempt_at__lte=now)
            .order_by("next_attempt_at").values_list("post_id", flat=True)[:limit]
        )
        PostPreview.objects.filter(post_id__in=ids).update(
            next_attempt_at=now + timedelta(seconds=settings.PREVIEW_SWEEP_AFTER_SECONDS)
        )
    return sum(preview_enqueue(post_id) for post_id in ids)


def preview_enqueue(post_id: int, countdown: float | None = None) -> bool:
    """Publish a fetch; a broker failure is logged, never raised (the sweep picks the row up)."""
    from .tasks import fetch_preview

    try:
        fetch_preview.apply_async((post_id,), countdown=countdown)  # type: ignore[arg-type]  # None: at once (stubs want a float)
        return True
    except Exception:  # broker down or hung: the row's next_attempt_at keeps the work
        log.warning("could not enqueue preview fetch for post %s; the sweep will retry", post_id, exc_info=True)
        return False


def preview_fetch(*, post_id: int) -> float | None:
    """Fetch one post's preview and store what the platform said. Safe to run twice.

    Returns the seconds to wait before trying again after a transient failure, or None when done (fetched,
    gone, given up after PREVIEW_MAX_ATTEMPTS, or no such post).
    """
    post = Post.objects.filter(pk=post_id).only("pk", "platform", "external_id", "url").first()
    if post is None:
        return None
    PostPreview.objects.get_or_create(post=post, defaults={"next_attempt_at": timezone.now()})
    try:
        result = fetch(post.platform, post.url)
    except NotFetchable as exc:
        log.info("preview of post %s not fetchable: %s", post_id, exc)
        _record_failure(post, give_up=True)
        return None
    except FetchFailed as exc:
        log.info("preview of post %s failed: %s", post_id, exc)
        return _record_failure(post)
    _record_answer(post, result)
    return None


def _record_answer(post: Post, result: Fetched) -> None:
    now = timezone.now()
    values = {"status": result.status, "fetched_at": now, "attempts": 0, "next_attempt_at": None}
    if result.status == PreviewStatus.OK:
        values.update(text=result.text, author_name=result.author_name, created_at=result.created_at,
                      image_url=result.image_url)
    else:  # gone: never keep text a voter sent for a post that is deleted or private now
        values.update(text="", author_name="", created_at=None, image_url="")
    PostPreview.objects.filter(post=post).update(**values)
    announce_posts_changed([(post.platform, post.external_id)])


def _record_failure(post: Post, *, give_up: bool = False) -> float | None:
    """Count a failed try; the delay before the next one, or None once PREVIEW_MAX_ATTEMPTS is reached."""
    with transaction.atomic():
        row = PostPreview.objects.select_for_update().filter(post=post, status__in=OPEN_STATUSES).first()
        if row is None:  # fetched meanwhile (another task): nothing to retry
            return None
        row.attempts = min(row.attempts + 1, 32767)
        done = give_up or row.attempts >= settings.PREVIEW_MAX_ATTEMPTS
        delay = None if done else retry_delay(row.attempts)
        row.next_attempt_at = None if delay is None else timezone.now() + timedelta(seconds=delay)
        if row.status == PreviewStatus.PENDING:  # text a voter sent stays up (from_extension) while we retry
            row.status = PreviewStatus.FAILED
        row.save(update_fields=["attempts", "next_attempt_at", "status"])
    return delay


def preview_offer_text(*, post: Post, text: str) -> bool:
    """Text a voter's extension saw on the post: shown (marked as such) until a fetch succeeds.

    Only fills a preview nothing better has filled: never over fetched text, nor over a post the platform
    says is deleted or private. True when stored.
    """
    text = plain(text, EXTENSION_TEXT_MAX)
    if not text:
        return False
    _, created = PostPreview.objects.get_or_create(
        post=post, defaults={"status": PreviewStatus.FROM_EXTENSION, "text": text, "next_attempt_at": timezone.now()}
    )
    if created:
        transaction.on_commit(previews_dispatch_soon, robust=True)
        stored = True
    else:
        stored = bool(PostPreview.objects.filter(
            post=post, status__in=(PreviewStatus.PENDING, PreviewStatus.FAILED, PreviewStatus.FROM_EXTENSION)
        ).update(status=PreviewStatus.FROM_EXTENSION, text=text))
    if stored:
        announce_posts_changed([(post.platform, post.external_id)])
    return stored


def previews_sweep(*, limit: int = 500) -> int:
    """Re-queue fetches that are due and were not run (a lost task, a dead broker): rows whose
    next_attempt_at passed PREVIEW_SWEEP_AFTER_SECONDS ago. Each is pushed on by that much as it is queued,
    so overlapping sweeps queue it once."""
    now = timezone.now()
    grace = timedelta(seconds=settings.PREVIEW_SWEEP_AFTER_SECONDS)
    due = list(
        PostPreview.objects.filter(status__in=OPEN_STATUSES, next_attempt_at__lte=now - grace)
        .order_by("next_attempt_at").values_list("post_id", flat=True)[:limit]
    )
    queued = 0
    for post_id in due:
        claimed = PostPreview.objects.filter(post_id=post_id, next_attempt_at__lte=now - grace).update(
            next_attempt_at=now + grace
        )
        if claimed and preview_enqueue(post_id):
            queued += 1
    return queued
