"""Schema-driven fuzzing: every operation answers without server errors and as its schema says.

Bounded (a handful of examples per operation) so the whole file runs in well under a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from knox.models import AuthToken
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application

from .api_helpers import clear_local_cards, make_author  # noqa: F401
from .conftest import make_user

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
FUZZ = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture
def world(db):
    """Some known authors so lookups also hit the 200 path; quotas high enough not to interfere."""
    for handle in ("writer", "alpha", "beta"):
        make_author(handle)
    rates = {"anon": "100000/min", "user": "100000/min", "api_key": "100000/min", "votes": "100000/min"}
    # Requests go straight to the WSGI handler (not Django's test client), whose request signals would
    # close the test's connection in the middle of its transaction; the test client disconnects them too.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        with override_settings(REST_FRAMEWORK={**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
            yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@FUZZ
def test_anonymous_calls_conform_to_the_schema(case, world):
    case.call_and_validate()


@pytest.mark.django_db
@schema.include(path_regex="^/api/v1/(votes|posts)").parametrize()
@FUZZ
def test_token_calls_conform_to_the_schema(case, world):
    user = make_user(f"fuzzer{AuthToken.objects.count()}")
    _, token = AuthToken.objects.create(user=user)
    # Whether a URL or post id names a real post depends on the platform's grammar (documented in prose), so
    # schema-valid bodies may still be refused with 400; every other check applies.
    excluded = [positive_data_acceptance] if case.method == "POST" else []
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, excluded_checks=excluded)
