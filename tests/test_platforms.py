"""Post URLs: which platform, author and post they name; bad ones get a clear error."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from votes.platforms import (
    PLATFORMS,
    POST_URL_PATTERN,
    X_RESERVED_PATHS,
    PostURLError,
    match_post_url,
    normalize_handle,
    parse_post_url,
    validate_post_id,
)


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


@pytest.mark.parametrize("url", ["[", "https://[", "http://x.com:99999/jack/status/1", "https://[::1/a/status/1"])
def test_an_unparseable_link_is_refused_with_a_message_not_an_error(url):
    with pytest.raises(PostURLError, match="not a link|without a user name or port"):
        parse_post_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://x.com/i/status/1790000000000000001",
        "https://x.com/i/web/status/1790000000000000001",
        "https://twitter.com/home/status/20",
        "https://x.com/Search/status/20",
        "x.com/explore/status/20",
    ],
)
def test_x_app_routes_are_not_authors_and_such_links_say_so(url):
    with pytest.raises(PostURLError, match="do not say who wrote the post"):
        parse_post_url(url)


@pytest.mark.parametrize("route", sorted(X_RESERVED_PATHS))
def test_x_app_routes_are_not_handles(route):
    with pytest.raises(PostURLError, match="is an X page, not a handle"):
        normalize_handle("x", route.upper())


def test_handles_that_merely_start_like_an_app_route_are_handles():
    assert parse_post_url("https://x.com/imogen/status/5").handle == "imogen"
    assert parse_post_url("https://x.com/homer/status/5").handle == "homer"


def test_the_server_and_the_extension_agree_on_which_x_paths_are_app_routes():
    source = (Path(__file__).parent.parent / "extension/src/selectors.js").read_text()
    listed = re.search(r"const RESERVED = new Set\(\[(.*?)\]\)", source, re.S).group(1)
    assert set(re.findall(r'"([^"]+)"', listed)) == X_RESERVED_PATHS


@pytest.mark.parametrize(
    "author", ["did:plc:z72i7hdynmk6r22z27h6tvur", "did:web:example.com", "alice.bsky.social"]
)
def test_bluesky_links_name_the_author_by_handle_or_by_did(author):
    ref = parse_post_url(f"https://bsky.app/profile/{author}/post/3kq2abcxyz")
    assert (ref.platform, ref.handle, ref.post_id) == ("bluesky", author, "3kq2abcxyz")
    assert ref.url == f"https://bsky.app/profile/{author}/post/3kq2abcxyz"


def test_digits_are_ascii_digits():
    with pytest.raises(PostURLError):
        parse_post_url("https://x.com/jack/status/\u0661\u0662\u0663")  # Arabic-Indic 123
    with pytest.raises(PostURLError):
        validate_post_id("x", "\u0661\u0662\u0663")


@given(st.one_of(st.text(max_size=80), st.from_regex(POST_URL_PATTERN, fullmatch=True)))
@settings(max_examples=300, deadline=None)
def test_any_text_is_a_post_or_a_clear_refusal_exactly_as_the_published_grammar_says(text):
    try:
        ref = match_post_url(text)
    except PostURLError as exc:
        assert str(exc) and not re.match(POST_URL_PATTERN, text)
    else:
        assert re.match(POST_URL_PATTERN, text) and ref.platform in PLATFORMS


PROBES = [
    "alice", "Alice_1", "alice\n", "\x1calice", "\ufeffalice", "alice\r\n", "\nalice", "al ice", "x\x1c", "x\x1f",
    "x\x85", "x\xa0", "x\ufeff", "\u0661\u0662", "12\u00b2", "\u2003a", "a\u2028", "@alice", "@@alice", "home", "HOME",
    "@Home", "i", "imogen", "did:plc:z72i7hdynmk6r22z27h6tvur", "did:web:example.com", "a" * 254, "a,b", " a , b ,",
    "a,,b", ",a", "a\x00", "\U0001F600", "3kq2abcxyz", "1790000000000000001", "5\n", " 5",
    "https://x.com/jack/status/20", "x.com/Jack/statuses/20/", "https://x.com/jack/status/20\n",
    "HTTPS://WWW.X.COM/jack/status/20?s=1#top", "https://x.com/i/status/20",
    "https://x.com/jack/status/20/photo/1\u00e9", "https://x.com/jack/status/20?q=\U0001F600",
    "https://x.com/jack/status/20 x", "https://bsky.app/profile/a.b/post/abcde",
    "https://bsky.app/profile/did:plc:z72i7hdynmk6r22z27h6tvur/post/3kq2abcxyz",
]


def published_patterns() -> dict[str, re.Pattern]:
    """Every pattern an API input field checks: its source as published in the schema, and the server's regex."""
    from django.core.validators import RegexValidator

    from api import serializers
    from api.schema import ecma

    found = {}
    for serializer in serializers.InputSerializer.__subclasses__() + [serializers.SearchQuerySerializer]:
        for field in serializer._declared_fields.values():
            for validator in getattr(getattr(field, "child", None), "validators", []) + field.validators:
                if isinstance(validator, RegexValidator):
                    found[ecma(validator.regex.pattern)] = validator.regex
    for platform in PLATFORMS.values():  # the vote body's per-platform rules (api.schema.vote_input_rules)
        found.update({ecma(regex.pattern): regex for regex in (platform.handle, platform.post_id)})
    return found


# A newcomer's `make test` may lack node (the Makefile says so); CI (REQUIRE_SERVICES) must run this and fails without it.
@pytest.mark.skipif(not shutil.which("node") and not os.environ.get("REQUIRE_SERVICES"), reason="node is not installed")
def test_the_published_patterns_mean_the_same_in_javascript_as_on_the_server():
    patterns = published_patterns()
    assert len(patterns) >= 10
    script = (
        "const {patterns, probes} = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(patterns.map(p => probes.map(s => new RegExp(p, 'u').test(s)))));"
    )
    stdin = json.dumps({"patterns": list(patterns), "probes": PROBES})
    verdicts = json.loads(subprocess.run(["node", "-e", script], input=stdin, capture_output=True, text=True,
                                         check=True).stdout)
    for (published, server), in_javascript in zip(patterns.items(), verdicts):
        on_server = [bool(server.search(probe)) for probe in PROBES]
        disagree = [probe for probe, a, b in zip(PROBES, on_server, in_javascript) if a != b]
        assert not disagree, (published, disagree)
