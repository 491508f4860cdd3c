"""Loaded by pytest before Django (see pytest.ini): test-time environment defaults."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("FAST_PASSWORD_HASHER", "1")
os.environ.setdefault("REPUTATION_REFRESH_COUNTDOWN", "0.2")
