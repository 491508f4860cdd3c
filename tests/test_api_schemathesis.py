"""Schema-driven fuzzing with every check schemathesis has (server errors, status codes, content types,
headers and bodies as documented, schema-valid input accepted and invalid input refused, authentication
enforced, resources gone after a DELETE and there after a POST): anonymously, with a user's token, and along
the schema's links (cast a vote, then read, list and retract it).

Bounded (a couple of dozen examples per operation) so the whole file runs in about two minutes.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections, transaction
from django.test import override_settings
from hypothesis import HealthCheck, settings
from knox.models import AuthToken

from config.wsgi import application
from votes import services as vote_services

from .api_helpers import clear_local_cards, make_author  # noqa: F401
from .conftest import make_user

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
# The same schema for a signed-in user: every request carries the token of the test's user.
as_user = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
LINKED = settings(
    max_examples=40, stateful_step_count=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@pytest.fixture
def world(db):
    """Known authors with posts, so lookups, rankings and "Rate next" reach their 200s; quotas that never
    interfere."""
    for i, handle in enumerate(("writer", "alpha", "beta")):
        make_author(handle)
        vote_services.post_register(url=f"https://x.com/{handle}/status/{1790000000000000100 + i}")
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


def forget_cached_answers():
    from api.services import local_cards
    from api.throttles import local_counts

    cache.clear()
    local_cards.clear()
    local_counts.clear()


@as_user.auth(refresh_interval=None)
class UserToken:
    token = ""  # set by the `token` fixture, for one test

    def get(self, case, context):
        return self.token

    def set(self, case, token, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Token {token}"}


@pytest.fixture
def token(world):
    _, UserToken.token = AuthToken.objects.create(user=make_user("fuzzer"))
    yield
    UserToken.token = ""


@pytest.mark.django_db
@schema.parametrize()
@FUZZ
def test_anonymous_calls_conform_to_the_schema(case, world):
    case.call_and_validate()


@pytest.mark.django_db
@as_user.parametrize()
@FUZZ
def test_calls_with_a_token_conform_to_the_schema(case, token):
    # This test's user's token, whatever the auth provider cached from an earlier test (its cases are
    # built before this test's `token` fixture runs).
    case.headers = {**(case.headers or {}), "Authorization": f"Token {UserToken.token}"}
    case.call_and_validate()


@pytest.mark.django_db
def test_linked_calls_with_a_token_conform_to_the_schema(token):
    followed = Counter()

    class Workflow(as_user.as_state_machine()):
        # Every scenario starts from the same world: Hypothesis replays scenarios, and one that found other
        # votes in place would draw different steps.
        def setup(self):
            self.savepoint = transaction.savepoint()
            forget_cached_answers()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)
            forget_cached_answers()

        def step(self, input):
            output = super().step(input)
            if input.transition is not None and not input.transition.is_inferred and input.is_applied:
                followed[input.transition.id, output.response.status_code] += 1
            return output

    Workflow.run(settings=LINKED)
    # The schema's own links (not only those schemathesis infers) were followed, from a vote among others.
    reached = {link for (link, status), _ in followed.items() if status < 400}
    assert any(link.startswith("POST /api/v1/votes -> [201] ") for link in reached), followed
