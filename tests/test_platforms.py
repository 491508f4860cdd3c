"""Post URLs: which platform, author and post they name; bad ones get a clear error."""

import pytest

from votes.platforms import PostURLError, parse_post_url


@pytest.mark.parametrize(
    "url",
    [
        "https://x.com/Jack/status/20",
        "https://twitter.com/Jack/status/20?s=21&t=abc",
        "https://mobile.twitter.com/Jack/status/20",
        "http://www.x.com/Jack/status/20/photo/1",
        "x.com/Jack/status/20",
    ],
)
def test_it_parses_x_status_urls(url):
    ref = parse_post_url(url)
    assert (ref.platform, ref.handle, ref.post_id) == ("x", "Jack", "20")
    assert ref.url == "https://x.com/Jack/status/20"


def test_it_keeps_64_bit_ids_exact():
    ref = parse_post_url("https://x.com/a/status/18446744073709551615")
    assert ref.post_id == "18446744073709551615"


def test_it_parses_bluesky_posts():
    ref = parse_post_url("https://bsky.app/profile/alice.bsky.social/post/3kq2abcxyz")
    assert (ref.platform, ref.handle, ref.post_id) == ("bluesky", "alice.bsky.social", "3kq2abcxyz")


@pytest.mark.parametrize(
    "url, message",
    [
        ("", "Paste the link"),
        ("https://example.com/a/status/1", "not a supported site"),
        ("https://x.com/jack", "does not point at a single post"),
        ("https://x.com/jack/status/abc", "does not point at a single post"),
        ("ftp://x.com/jack/status/1", "http"),
    ],
)
def test_it_rejects_bad_urls_with_a_clear_message(url, message):
    with pytest.raises(PostURLError, match=message):
        parse_post_url(url)
