"""Post previews: each platform's fetcher against a fake server, retries with backoff, extension text, the API.

Tests never reach a platform: tests/fake_platform.py answers as X's oEmbed, Bluesky's AppView and a
Mastodon instance do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests import fake_platform as fake_server
from tests.api_helpers import token_client
from tests.conftest import make_user, wait_for
from votes import previews, services
from votes.models import Post, PostPreview, PreviewStatus

pytestmark = pytest.mark.django_db
fake_platform = fake_server.fake_platform  # the fixture
X_URL = "https://x.com/writer/status/1790000000000000001"
SECOND_URL = "https://x.com/writer/status/1790000000000000002"
HOSTILE_HTML = (
    'Tom &amp; Jerry &lt;3 <script>alert("x")</script><img src=x onerror="alert(1)">'
    '<a href="javascript:alert(2)" onclick="steal()">pic.twitter.com/abc</a><br>second line'
)


def register(url: str = X_URL) -> Post:
    return services.post_register(url=url)


def preview_of(post: Post) -> PostPreview:
    return PostPreview.objects.get(post=post)


# --- X (oEmbed) -------------------------------------------------------------------


def test_an_x_post_is_fetched_as_plain_text_with_its_author_and_time(fake_platform):
    post = register()
    fake_platform.x_post(X_URL, text_html="Hello <b>world</b>", name="The Writer", handle="writer")

    assert previews.preview_fetch(post_id=post.pk) is None
    preview = preview_of(post)
    assert (preview.status, preview.text, preview.author_name) == ("ok", "Hello world", "The Writer")
    # X ids carry their creation time: 1790000000000000001 is 2024-05-13 12:43:51.248 UTC.
    assert preview.created_at == previews.x_snowflake_time("1790000000000000001")
    assert preview.created_at == datetime(2024, 5, 13, 12, 43, 51, 248000, tzinfo=UTC)
    assert preview.fetched_at is not None and preview.attempts == 0 and preview.next_attempt_at is None


def test_platform_html_is_reduced_to_text_and_never_kept_as_markup(fake_platform):
    post = register()
    fake_platform.x_post(X_URL, text_html=HOSTILE_HTML, name="<i>Evil</i> Name", handle="writer")
    previews.preview_fetch(post_id=post.pk)

    text = preview_of(post).text
    assert text == "Tom & Jerry <3 pic.twitter.com/abc\nsecond line"  # entities decoded: it is text, not HTML
    assert "alert" not in text and "onerror" not in text and "javascript" not in text


def test_a_deleted_x_post_is_marked_deleted_and_a_protected_one_private(fake_platform):
    gone, hidden = register(), register("https://x.com/writer/status/1790000000000000002")
    fake_platform.x_post(X_URL, text_html="", name="", handle="writer", status=404)
    fake_platform.x_post(hidden.url, text_html="", name="", handle="writer", status=403)
    previews.preview_fetch(post_id=gone.pk)
    previews.preview_fetch(post_id=hidden.pk)
    assert (preview_of(gone).status, preview_of(hidden).status) == ("deleted", "private")
    assert preview_of(gone).text == "" and preview_of(gone).fetched_at is not None


# --- Bluesky (AppView) ------------------------------------------------------------


def test_a_bluesky_post_named_by_handle_is_resolved_to_its_did_and_fetched(fake_platform):
    post = register("https://bsky.app/profile/writer.bsky.social/post/3kabc123")
    fake_platform.bluesky_post(
        "writer.bsky.social", "3kabc123", text="Sky text\nwith two lines", name="Sky Writer",
        created="2026-03-01T12:00:00.000Z", image="https://cdn.bsky.app/img/feed_fullsize/plain/x.jpg",
    )
    previews.preview_fetch(post_id=post.pk)

    preview = preview_of(post)
    assert (preview.status, preview.text, preview.author_name) == ("ok", "Sky text\nwith two lines", "Sky Writer")
    assert preview.created_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert preview.image_url == "https://cdn.bsky.app/img/feed_fullsize/plain/x.jpg"
    assert fake_platform.hits("resolveHandle") == 1


def test_a_bluesky_link_by_did_needs_no_handle_resolution(fake_platform):
    did = "did:plc:abcdefghijklmnopqrstuvwx"
    post = register(f"https://bsky.app/profile/{did}/post/3kabc123")
    fake_platform.bluesky_post("writer.bsky.social", "3kabc123", text="By DID", name="W", did=did)
    previews.preview_fetch(post_id=post.pk)
    assert preview_of(post).text == "By DID"
    assert fake_platform.hits("resolveHandle") == 0


def test_a_bluesky_post_missing_from_the_appview_is_deleted(fake_platform):
    post = register("https://bsky.app/profile/writer.bsky.social/post/3kgone1")
    fake_platform.answer("/xrpc/com.atproto.identity.resolveHandle", {"handle": "writer.bsky.social"},
                         body={"did": "did:plc:abcdefghijklmnopqrstuvwx"})
    fake_platform.answer("/xrpc/app.bsky.feed.getPosts", body={"posts": []})
    previews.preview_fetch(post_id=post.pk)
    assert preview_of(post).status == "deleted"


def test_a_bluesky_handle_that_no_longer_resolves_is_deleted(fake_platform):
    post = register("https://bsky.app/profile/gone.bsky.social/post/3kgone1")
    fake_platform.answer("/xrpc/com.atproto.identity.resolveHandle", status=400,
                         body={"error": "InvalidRequest", "message": "Unable to resolve handle"})
    previews.preview_fetch(post_id=post.pk)
    assert preview_of(post).status == "deleted"


# --- Mastodon (an instance's API) ---------------------------------------------------
# Written against the URL shape https://<instance>/@<user>/<id>; fetched directly, so these tests hold
# whether or not votes.platforms registers the platform.


def test_a_mastodon_status_is_fetched_from_its_instance_with_html_reduced_to_text(fake_platform):
    fake_platform.mastodon_status(
        "mastodon.social", "109876543210",
        content='<p>Hello <a href="https://mastodon.social/tags/fedi" class="hashtag">#<span>fedi</span></a></p>'
                "<p>second &amp; last<script>alert(1)</script></p>",
        acct="writer", name="Mast Writer", image="https://files.mastodon.social/media/1.png",
    )
    fetched = previews.fetch("mastodon", "https://mastodon.social/@writer/109876543210")
    assert fetched.status == "ok"
    assert fetched.text == "Hello #fedi\n\nsecond & last"
    assert (fetched.author_name, fetched.author_handle) == ("Mast Writer", "writer@mastodon.social")
    assert fetched.created_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert fetched.image_url == "https://files.mastodon.social/media/1.png"


def test_a_remote_account_seen_on_an_instance_keeps_its_home_instance(fake_platform):
    fake_platform.mastodon_status("mastodon.social", "5", content="<p>hi</p>", acct="writer@example.org", name="W")
    fetched = previews.fetch("mastodon", "https://mastodon.social/@writer@example.org/5")
    assert fetched.author_handle == "writer@example.org"


def test_a_deleted_mastodon_status_is_deleted(fake_platform):
    fetched = previews.fetch("mastodon", "https://mastodon.social/@writer/404404")  # the fake knows none
    assert fetched.status == "deleted"


def test_mastodon_instances_on_private_addresses_are_never_fetched(settings):
    settings.PREVIEW_ALLOW_PRIVATE_HOSTS = False
    settings.PREVIEW_MASTODON_URL_TEMPLATE = "https://{instance}/api/v1/statuses/{id}"
    for host in ("localhost", "127.0.0.1", "10.0.0.7"):
        with pytest.raises(previews.NotFetchable, match="not a public address"):
            previews.fetch("mastodon", f"https://{host}/@writer/1")


# --- Failures, backoff and the sweep -------------------------------------------------


def test_a_failed_fetch_is_retried_with_doubling_backoff_up_to_the_cap_then_given_up(fake_platform, settings):
    settings.PREVIEW_RETRY_BASE_SECONDS, settings.PREVIEW_RETRY_MAX_SECONDS, settings.PREVIEW_MAX_ATTEMPTS = 30, 100, 5
    post = register()
    fake_platform.answer("/oembed", status=503, body={"error": "over capacity"})

    delays = [previews.preview_fetch(post_id=post.pk) for _ in range(5)]
    assert delays == [30, 60, 100, 100, None]  # doubling, capped, then given up
    preview = preview_of(post)
    assert (preview.status, preview.attempts, preview.next_attempt_at) == ("failed", 5, None)


def test_a_failure_sets_the_next_attempt_and_a_later_success_resets_it(fake_platform, settings):
    settings.PREVIEW_RETRY_BASE_SECONDS = 30
    post = register()
    fake_platform.answer("/oembed", status=500)
    before = timezone.now()
    assert previews.preview_fetch(post_id=post.pk) == 30
    preview = preview_of(post)
    assert preview.status == "failed" and preview.attempts == 1
    assert before + timedelta(seconds=29) < preview.next_attempt_at < timezone.now() + timedelta(seconds=31)

    fake_platform.x_post(X_URL, text_html="Back", name="W", handle="writer")
    assert previews.preview_fetch(post_id=post.pk) is None
    preview = preview_of(post)
    assert (preview.status, preview.text, preview.attempts, preview.next_attempt_at) == ("ok", "Back", 0, None)


def test_timeouts_and_unreadable_answers_are_failures_to_retry(fake_platform, settings):
    post = register()
    fake_platform.answer("/oembed", body=b"<html>not json</html>")
    assert previews.preview_fetch(post_id=post.pk) is not None
    settings.PREVIEW_X_OEMBED_URL = "http://127.0.0.1:9/closed"  # nothing listens: connection refused
    assert previews.preview_fetch(post_id=post.pk) is not None
    assert preview_of(post).attempts == 2


def test_a_fetched_preview_is_never_downgraded_by_a_late_failure(fake_platform):
    post = register()
    fake_platform.x_post(X_URL, text_html="Good", name="W", handle="writer")
    previews.preview_fetch(post_id=post.pk)
    fake_platform.answer("/oembed", status=503)
    assert previews.preview_fetch(post_id=post.pk) is None  # a duplicate task: nothing to retry
    assert (preview_of(post).status, preview_of(post).text) == ("ok", "Good")


def test_the_sweep_requeues_only_fetches_overdue_past_the_grace_once(monkeypatch, settings):
    settings.PREVIEW_SWEEP_AFTER_SECONDS = 120
    queued = []
    monkeypatch.setattr(previews, "preview_enqueue", lambda post_id, countdown=None: queued.append(post_id) or True)
    lost, due_soon = register(), register("https://x.com/writer/status/1790000000000000002")
    now = timezone.now()
    PostPreview.objects.filter(post=lost).update(next_attempt_at=now - timedelta(seconds=600))
    PostPreview.objects.filter(post=due_soon).update(next_attempt_at=now - timedelta(seconds=30))

    assert previews.previews_sweep() == 1 and queued == [lost.pk]
    assert previews.previews_sweep() == 0  # pushed on as it was queued: overlapping sweeps queue it once
    assert preview_of(lost).next_attempt_at > now


def test_new_posts_are_dispatched_to_the_worker_in_one_burst_after_commit(monkeypatch, django_capture_on_commit_callbacks):
    from votes import tasks

    published = []
    monkeypatch.setattr(tasks.dispatch_previews, "apply_async", lambda *a, **kw: published.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        first = register()
        assert published == []  # not before the post is committed: the worker could not see it
    with django_capture_on_commit_callbacks(execute=True):
        second = register("https://x.com/writer/status/1790000000000000002")
        register()  # known already: nothing more
    assert len(published) == 1  # one dispatch for the burst, not a publish per post (the vote path's cost)

    queued = []
    monkeypatch.setattr(previews, "preview_enqueue", lambda post_id, countdown=None: queued.append(post_id) or True)
    assert previews.previews_dispatch() == 2 and sorted(queued) == sorted([first.pk, second.pk])
    assert previews.previews_dispatch() == 0  # claimed as queued: a second dispatch queues nothing again
    with django_capture_on_commit_callbacks(execute=True):
        register("https://x.com/writer/status/1790000000000000003")
    assert len(published) == 2  # the dispatch cleared its flag: a later post queues the next one


# --- Text from the extension ------------------------------------------------------------


def test_extension_text_stands_in_until_a_fetch_succeeds(fake_platform):
    post = register()
    assert previews.preview_offer_text(post=post, text="  As seen\x07 on x.com  ")
    assert (preview_of(post).status, preview_of(post).text) == ("from_extension", "As seen on x.com")

    fake_platform.answer("/oembed", status=503)
    previews.preview_fetch(post_id=post.pk)
    assert preview_of(post).status == "from_extension"  # a failed fetch keeps the voter's text up

    fake_platform.x_post(X_URL, text_html="The real text", name="W", handle="writer")
    previews.preview_fetch(post_id=post.pk)
    assert (preview_of(post).status, preview_of(post).text) == ("ok", "The real text")
    assert not previews.preview_offer_text(post=post, text="something else")  # never over fetched text
    assert preview_of(post).text == "The real text"


def test_extension_text_never_revives_a_deleted_or_private_post(fake_platform):
    post = register()
    fake_platform.x_post(X_URL, text_html="", name="", handle="writer", status=403)
    previews.preview_fetch(post_id=post.pk)
    assert not previews.preview_offer_text(post=post, text="text of a protected account")
    assert (preview_of(post).status, preview_of(post).text) == ("private", "")


# --- The API's post resource ---------------------------------------------------------------


def test_the_post_resource_carries_the_preview_object(fake_platform, django_capture_on_commit_callbacks):
    post = register()
    client = APIClient()
    assert client.get(f"/api/v1/posts/x/{post.external_id}").json()["preview"]["status"] == "pending"
    fake_platform.x_post(X_URL, text_html="Hello API", name="The Writer", handle="writer")
    with django_capture_on_commit_callbacks(execute=True):
        previews.preview_fetch(post_id=post.pk)

    preview = client.get(f"/api/v1/posts/x/{post.external_id}").json()["preview"]  # the cached card was dropped
    assert set(preview) == {"text", "author_name", "created_at", "fetched_at", "status", "image_url"}
    assert (preview["text"], preview["author_name"], preview["status"]) == ("Hello API", "The Writer", "ok")
    assert preview["created_at"] == "2024-05-13T12:43:51.248000Z" and preview["fetched_at"].endswith("Z")


def test_a_post_registered_before_previews_has_a_null_preview():
    post = register()
    PostPreview.objects.filter(post=post).delete()
    assert APIClient().get(f"/api/v1/posts/x/{post.external_id}").json()["preview"] is None


def test_a_vote_from_the_extension_may_carry_the_posts_visible_text():
    client, _ = token_client(make_user("alice"))
    response = client.post("/api/v1/votes", {"url": X_URL, "value": 1, "text": "What I saw"}, format="json")
    assert response.status_code == 201
    preview = APIClient().get("/api/v1/posts/x/1790000000000000001").json()["preview"]
    assert (preview["status"], preview["text"]) == ("from_extension", "What I saw")


@pytest.mark.parametrize("text", ["x" * 1001, 12, "nul\x00byte"])
def test_extension_text_that_is_too_long_or_not_text_is_a_400_and_changes_nothing(text):
    client, _ = token_client(make_user("alice"))
    response = client.post("/api/v1/votes", {"url": X_URL, "value": 1, "text": text}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert not Post.objects.exists()


# --- Through the real broker and worker ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_registered_post_gets_its_preview_through_the_worker(celery_worker_thread, fake_platform):
    fake_platform.x_post(X_URL, text_html="Fetched by the worker", name="W", handle="writer")
    post = register()
    preview = wait_for(lambda: PostPreview.objects.filter(post=post, status=PreviewStatus.OK).first())
    assert preview.text == "Fetched by the worker"


def test_the_admin_lists_previews_and_queues_a_fetch_again(admin_client, monkeypatch):
    queued = []
    monkeypatch.setattr(previews, "preview_enqueue", lambda post_id, countdown=None: queued.append(post_id) or True)
    post = register()
    assert admin_client.get("/admin/votes/postpreview/").status_code == 200
    assert admin_client.get("/admin/votes/handleclaim/").status_code == 200
    response = admin_client.post("/admin/votes/postpreview/", {"action": "fetch_again", "_selected_action": [post.pk]})
    assert response.status_code == 302 and queued == [post.pk]
    # Ownership is not edited by hand: only a proved claim sets it (with its time).
    page = admin_client.get(f"/admin/votes/author/{post.author_id}/change/").content.decode()
    assert 'name="owner"' not in page


def test_fetch_previews_gives_older_posts_a_preview_and_queues_their_fetch(monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    queued = []
    monkeypatch.setattr(previews, "preview_enqueue", lambda post_id, countdown=None: queued.append(post_id) or True)
    old, new = register(), register("https://x.com/writer/status/1790000000000000002")
    PostPreview.objects.filter(post=old).delete()  # registered before previews existed
    out = StringIO()
    call_command("fetch_previews", "--dry-run", stdout=out)
    assert "1 post(s) have no preview" in out.getvalue() and not PostPreview.objects.filter(post=old).exists()
    call_command("fetch_previews", stdout=out)
    assert preview_of(old).status == "pending" and queued == [old.pk]
    assert preview_of(new).status == "pending"


@pytest.mark.django_db(transaction=True)
def test_the_worker_retries_a_failed_fetch_after_its_backoff(celery_worker_thread, fake_platform, settings):
    settings.PREVIEW_RETRY_BASE_SECONDS = 2  # time enough to see the failure before the platform recovers
    fake_platform.answer("/oembed", status=503)
    post = register()
    wait_for(lambda: PostPreview.objects.filter(post=post, status=PreviewStatus.FAILED, attempts=1).exists())
    fake_platform.x_post(X_URL, text_html="Second time lucky", name="W", handle="writer")
    preview = wait_for(lambda: PostPreview.objects.filter(post=post, status=PreviewStatus.OK).first())
    assert preview.text == "Second time lucky" and preview.attempts == 0
    assert fake_platform.hits("/oembed") == 2  # one failure, one retry: not a retry storm


@pytest.mark.django_db(transaction=True)
def test_a_post_held_back_by_a_stale_dispatch_flag_is_still_fetched(celery_worker_thread, fake_platform):
    from django.core.cache import cache

    first = register()  # its dispatch runs and queues once more later
    wait_for(lambda: PostPreview.objects.filter(post=first, status=PreviewStatus.DELETED).exists())
    fake_platform.x_post(SECOND_URL, text_html="Held back, then fetched", name="W", handle="writer")
    cache.add(previews.DISPATCH_FLAG, 1, timeout=previews.DISPATCH_FLAG_TTL)  # as a web process's own cache would
    second = register(SECOND_URL)
    preview = wait_for(lambda: PostPreview.objects.filter(post=second, status=PreviewStatus.OK).first(), timeout=15)
    assert preview.text == "Held back, then fetched"
