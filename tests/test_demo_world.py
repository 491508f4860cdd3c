"""The demo world's authors are ones a visitor can rate by pasting a link."""

import pytest

from votes.management import demo_world
from votes.platforms import parse_post_url

AUTHORS = [(h, p) for h, p, *_ in demo_world.NAMED + demo_world.FEDIVERSE] + [(h, "x") for h in demo_world.CROWD]


def _link(handle: str, platform: str) -> str:
    if platform == "x":
        return f"https://x.com/{handle}/status/1800000000000000000"
    if platform == "bluesky":
        return f"https://bsky.app/profile/{handle}/post/3kabc2def3g"
    user, instance = handle.split("@")
    return f"https://{instance}/@{user}/1100"


@pytest.mark.parametrize(("handle", "platform"), AUTHORS)
def test_a_demo_authors_post_link_parses_to_that_author(handle, platform):
    ref = parse_post_url(_link(handle, platform))
    assert (ref.platform, ref.handle) == (platform, handle)
