"""Loaded by pytest before Django (see pytest.ini): test-time environment defaults."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("FAST_PASSWORD_HASHER", "1")
os.environ.setdefault("REPUTATION_REFRESH_COUNTDOWN", "0.2")
# Post previews (votes.previews): tests never reach a platform. A test that fetches runs its own fake
# server (tests/fake_platform.py); anything else fetches from a closed port and fails fast.
for _name in ("PREVIEW_X_OEMBED_URL", "PREVIEW_BLUESKY_API_URL"):
    os.environ.setdefault(_name, "http://127.0.0.1:9/closed")
os.environ.setdefault("PREVIEW_MASTODON_URL_TEMPLATE", "http://127.0.0.1:9/closed/{instance}/{id}")
