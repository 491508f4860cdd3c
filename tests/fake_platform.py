"""A local stand-in for X's oEmbed, Bluesky's AppView and Mastodon instances (tests never reach a platform).

An http.server in a thread; tests register answers (`fake.x_post(...)`, `fake.answer(...)`) and the
`fake_platform` fixture points the PREVIEW_* settings at it. Unregistered requests answer 404, as the
platforms do for posts they do not have.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest


class FakePlatform:
    def __init__(self):
        self.routes: list[tuple[str, dict, int, bytes]] = []
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ---- generic ----
    def answer(self, path: str, params: dict | None = None, *, status: int = 200, body=None) -> None:
        """Answer GET `path` whose query includes `params` (the latest registration wins)."""
        data = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
        self.routes.append((path, params or {}, status, data))

    def find(self, path: str, query: dict) -> tuple[int, bytes]:
        for route_path, params, status, body in reversed(self.routes):
            if route_path == path and all(query.get(k) == v for k, v in params.items()):
                return status, body
        return 404, b'{"error": "not found"}'

    def hits(self, fragment: str) -> int:
        return sum(fragment in r for r in self.requests)

    # ---- per platform ----
    def x_post(self, url: str, *, text_html: str, name: str, handle: str, date: str = "March 1, 2026", status=200):
        html = (
            f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">{text_html}</p>&mdash; {name} (@{handle}) '
            f'<a href="https://twitter.com/{handle}/status/1?ref_src=twsrc%5Etfw">{date}</a></blockquote>\n'
            '<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>'
        )
        body = {"url": url, "author_name": name, "author_url": f"https://twitter.com/{handle}", "html": html,
                "type": "rich", "provider_name": "Twitter"}
        self.answer("/oembed", {"url": url}, status=status, body=body)

    def bluesky_post(self, handle: str, rkey: str, *, text: str, name: str, did: str = "did:plc:abcdefghijklmnopqrstuvwx",
                     created: str = "2026-03-01T12:00:00.000Z", indexed: str | None = None, image: str | None = None):
        self.answer("/xrpc/com.atproto.identity.resolveHandle", {"handle": handle}, body={"did": did})
        post = {
            "uri": f"at://{did}/app.bsky.feed.post/{rkey}", "cid": "bafy",
            "author": {"did": did, "handle": handle, "displayName": name},
            "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": created},
            "indexedAt": indexed or created,
        }
        if image:
            post["embed"] = {"$type": "app.bsky.embed.images#view",
                             "images": [{"thumb": image + "?thumb", "fullsize": image, "alt": ""}]}
        self.answer("/xrpc/app.bsky.feed.getPosts", {"uris": f"at://{did}/app.bsky.feed.post/{rkey}"},
                    body={"posts": [post]})

    def mastodon_status(self, instance: str, status_id: str, *, content: str, acct: str, name: str,
                        created: str = "2026-03-01T12:00:00.000Z", image: str | None = None, status=200):
        media = [{"type": "image", "url": image, "preview_url": image}] if image else []
        body = {
            "id": status_id, "created_at": created, "content": content, "spoiler_text": "", "visibility": "public",
            "account": {"acct": acct, "username": acct.split("@")[0], "display_name": name,
                        "url": f"https://{instance}/@{acct}"},
            "media_attachments": media,
        }
        self.answer(f"/mastodon/{instance}/api/v1/statuses/{status_id}", status=status, body=body)


def _handler(fake: FakePlatform):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            fake.requests.append(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            status, body = fake.find(parts.path, query)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet
            pass

    return Handler


@pytest.fixture
def fake_platform(settings):
    fake = FakePlatform()
    fake.thread.start()
    settings.PREVIEW_X_OEMBED_URL = f"{fake.base}/oembed"
    settings.PREVIEW_BLUESKY_API_URL = f"{fake.base}/xrpc"
    settings.PREVIEW_MASTODON_URL_TEMPLATE = fake.base + "/mastodon/{instance}/api/v1/statuses/{id}"
    settings.PREVIEW_ALLOW_PRIVATE_HOSTS = True
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
