"""Conventions every endpoint shares: problem+json, ETags and 304, Cache-Control, throttles, request ids."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from .api_helpers import (  # noqa: F401
    assert_problem,
    clear_local_cards,
    key_client,
    make_author,
    token_client,
)

pytestmark = pytest.mark.django_db


def rates(**overrides):
    base = {"anon": "1000/min", "user": "1000/min", "api_key": "1000/min", "votes": "1000/min"}
    return override_settings(REST_FRAMEWORK={
        **__import__("django.conf").conf.settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**base, **overrides}
    })


def test_unknown_api_paths_are_404_problems():
    body = assert_problem(APIClient().get("/api/v1/no/such/thing"), 404)
    assert body["instance"] == "/api/v1/no/such/thing"


def test_a_wrong_method_is_a_405_problem():
    response = APIClient().delete("/api/v1/authors")
    assert_problem(response, 405)
    assert "GET" in response["Allow"]


def test_a_malformed_json_body_is_a_400_problem():
    response = APIClient().post("/api/v1/authors/lookup", data="{not json", content_type="application/json")
    assert_problem(response, 400)


def test_problem_types_resolve_to_a_description():
    body = assert_problem(APIClient().get("/api/v1/authors/x/ghost"), 404)
    path = body["type"].split("://", 1)[1].split("/", 1)[1]
    description = APIClient().get("/" + path).json()
    assert description["status"] == 404 and description["title"] == "Not found"


def test_public_reads_carry_a_strong_etag_and_answer_304_to_if_none_match():
    make_author("writer")
    client = APIClient()
    first = client.get("/api/v1/authors/x/writer")
    etag = first["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = client.get("/api/v1/authors/x/writer", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert client.get("/api/v1/authors/x/writer", HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def test_etags_are_the_same_for_everyone_on_public_data(alice):
    make_author("writer")
    anonymous = APIClient().get("/api/v1/authors/x/writer")["ETag"]
    with_token = token_client(alice)[0].get("/api/v1/authors/x/writer")["ETag"]
    assert anonymous == with_token


def test_anonymous_public_reads_are_publicly_cacheable_and_vary_on_auth(alice, post):
    make_author("writer2")
    response = APIClient().get("/api/v1/authors/x/writer2")
    assert response["Cache-Control"] == "public, max-age=60"
    assert {"Accept", "Authorization"} <= {v.strip() for v in response["Vary"].split(",")}
    personal = token_client(alice)[0].get(f"/api/v1/posts/x/{post.external_id}")
    assert personal["Cache-Control"] == "private, no-cache"


def test_304s_are_not_charged_against_the_quota():
    make_author("writer")
    client = APIClient()
    with rates(anon="5/min"):
        cache.clear()
        etag = client.get("/api/v1/authors/x/writer")["ETag"]
        for _ in range(10):
            response = client.get("/api/v1/authors/x/writer", HTTP_IF_NONE_MATCH=etag)
            assert response.status_code == 304
            assert response["X-RateLimit-Remaining"] == "4"


def test_anonymous_clients_are_throttled_with_429_retry_after_and_ratelimit_headers():
    client = APIClient()
    with rates(anon="3/min"):
        cache.clear()
        seen = [client.get("/api/v1/authors", {"handles": "a"}) for _ in range(3)]
        assert [r["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0"]
        assert all(r["X-RateLimit-Limit"] == "3" for r in seen)
        limited = client.get("/api/v1/authors", {"handles": "a"})
    body = assert_problem(limited, 429)
    assert 1 <= int(limited["Retry-After"]) <= 60 and body["retry_after"] == int(limited["Retry-After"])
    assert limited["X-RateLimit-Remaining"] == "0" and int(limited["X-RateLimit-Reset"]) > 1_700_000_000
    assert "3 requests per minute" in body["detail"]


def test_api_keys_have_their_own_higher_quota():
    keyed = key_client()
    with rates(anon="2/min", api_key="50/min"):
        cache.clear()
        for _ in range(5):
            response = keyed.get("/api/v1/authors", {"handles": "a"})
            assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "50"
        assert [APIClient().get("/api/v1/ping").status_code for _ in range(3)] == [200, 200, 200]  # not throttled


def test_users_have_a_vote_quota(alice):
    client, _ = token_client(alice)
    with rates(votes="2/min"):
        cache.clear()
        codes = [
            client.post("/api/v1/votes", {"platform": "x", "post_id": str(i), "author": "w", "value": 1},
                        format="json").status_code
            for i in range(3)
        ]
    assert codes == [201, 201, 429]


def test_request_ids_are_echoed_or_generated():
    client = APIClient()
    assert client.get("/api/v1/ping", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    generated = client.get("/api/v1/ping", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert generated != "bad id with spaces" and len(generated) == 32


def test_log_lines_written_during_a_request_carry_its_id():
    import logging

    from django.conf import settings

    from api.middleware import RequestIdFilter

    lines = []
    handler = logging.Handler()  # configured like settings.LOGGING's console handler
    handler.setFormatter(logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]))
    handler.addFilter(RequestIdFilter())
    handler.emit = lambda record: lines.append(handler.format(record))
    logger = logging.getLogger("django.request")  # Django logs every 4xx/5xx answer here
    logger.addHandler(handler)
    try:
        APIClient().get("/api/v1/no/such/thing", HTTP_X_REQUEST_ID="trace-42")
    finally:
        logger.removeHandler(handler)
    assert any("rid=trace-42 Not Found: /api/v1/no/such/thing" in line for line in lines), lines


def test_the_schema_validates_and_documents_problem_responses(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "ProblemDetail" in text and "application/problem+json" in text
    response = APIClient().get("/api/v1/schema/")
    assert response.status_code == 200
    docs = APIClient().get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content and b"cdn.jsdelivr" not in docs.content


def test_create_api_key_command_prints_a_working_key(capsys):
    call_command("create_api_key", "acme", verbosity=0)
    key = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get("/api/v1/authors", {"handles": "a"}).status_code == 200


def test_a_forged_x_forwarded_for_does_not_escape_the_anonymous_quota():
    client = APIClient()
    with rates(anon="2/min"):
        cache.clear()
        codes = [
            client.get("/api/v1/authors", {"handles": "a"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code
            for i in range(3)
        ]
    assert codes == [200, 200, 429]


def test_rate_counters_batch_far_from_the_limit_and_stay_exact_near_it(monkeypatch):
    """Two processes share one client's window: few round trips, and the limit overshot by at most 2/64."""
    from api import throttles

    cache.clear()
    round_trips = []
    real_incr = throttles._counter_incr
    monkeypatch.setattr(throttles, "_counter_incr", lambda *a: round_trips.append(a) or real_incr(*a))
    processes, limit = [throttles.LocalCounts(), throttles.LocalCounts()], 640
    counts = [processes[i % 2].hit("api:rl:test:window", limit, 60) for i in range(limit)]
    assert len(round_trips) < limit / 2
    counts += [processes[i % 2].hit("api:rl:test:window", limit, 60) for i in range(1000 - limit)]
    assert limit <= sum(count <= limit for count in counts) <= limit * (1 + 2 / 64)
    # Past the limit every hit syncs, so both processes agree the quota is spent.
    assert all(p.hit("api:rl:test:window", limit, 60) > limit for p in processes)


def test_input_serializers_validate_each_request_on_its_own_copy_of_the_fields():
    from api.serializers import LookupSerializer

    good = LookupSerializer(data={"platform": "x", "handles": ["@Alice", "bob"]})
    bad = LookupSerializer(data={"platform": "x", "handles": ["@"]})

    assert good.is_valid() and good.validated_data["handles"] == ["alice", "bob"]
    assert not bad.is_valid() and "handles" in bad.errors
    assert good.fields["handles"] is not bad.fields["handles"]
    assert good.fields["handles"].parent is good and bad.fields["handles"].parent is bad
    assert LookupSerializer._declared_fields["handles"].parent is None  # the class's own fields stay unbound


def test_a_body_over_the_limit_is_a_413_problem(alice):
    client, _ = token_client(alice)
    body = '{"url": "' + "a" * 10_000_000 + '", "value": 1}'
    problem = assert_problem(client.post("/api/v1/votes", data=body, content_type="application/json"), 413)
    assert "1,000,000 bytes" in problem["detail"]
    lookup = '{"handles": [' + ",".join(['"alpha"'] * 200_000) + "]}"
    assert_problem(APIClient().post("/api/v1/authors/lookup", data=lookup, content_type="application/json"), 413)


@pytest.mark.parametrize("depth", [33, 5000])
def test_json_nested_deeper_than_any_body_needs_is_a_400_problem(alice, depth):
    client, _ = token_client(alice)
    nested = "[" * depth + "]" * depth
    for body in (nested, '{"handles": ' + nested + "}"):
        problem = assert_problem(client.post("/api/v1/votes", data=body, content_type="application/json"), 400)
        assert "nested more than 32 levels" in problem["detail"]


@pytest.mark.parametrize("query", [{"limit": "\u00b2"}, {"limit": "\u0665"}, {"limit": " 5"}])
def test_a_page_size_is_ascii_digits(query):
    assert_problem(APIClient().get("/api/v1/leaderboard", query), 400)


@pytest.mark.parametrize("days", ["\u0665", "5.0", " 5", "1_0", "+5"])
def test_a_number_of_days_is_ascii_digits(days):
    make_author("writer")
    assert_problem(APIClient().get("/api/v1/authors/x/writer/history", {"days": days}), 400)
    assert APIClient().get("/api/v1/authors/x/writer/history", {"days": "5"}).status_code == 200


def _database_down(execute, sql, params, many, context):
    from django.db import OperationalError

    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")


def test_while_the_database_is_down_the_api_answers_503_with_retry_after(alice):
    from django.db import connection

    client, _ = token_client(alice)
    with connection.execute_wrapper(_database_down):
        read = APIClient().get("/api/v1/authors/x/ghost")
        vote = client.post("/api/v1/votes", {"url": "https://x.com/writer/status/1", "value": 1}, format="json")
    for response in (read, vote):
        problem = assert_problem(response, 503)
        assert response["Retry-After"] == str(problem["retry_after"]) and problem["retry_after"] > 0
        assert problem["type"].endswith("/service-unavailable")


def test_while_the_database_is_down_pages_answer_503_with_retry_after(client):
    from django.db import connection

    with connection.execute_wrapper(_database_down):
        response = client.get("/")
    assert response.status_code == 503 and int(response["Retry-After"]) > 0
    assert b"briefly unavailable" in response.content


def test_if_none_match_star_is_charged_like_any_read():
    """`If-None-Match: *` gets 304 for any author that exists: without a charge it would be a free existence check."""
    make_author("writer")
    client = APIClient()
    with rates(anon="3/min"):
        cache.clear()
        codes = [client.get("/api/v1/authors/x/writer", HTTP_IF_NONE_MATCH="*").status_code for _ in range(4)]
    assert codes == [304, 304, 304, 429]


def test_the_schema_documents_the_servers_own_refusals_and_links_votes_to_their_post(tmp_path):
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    vote = schema["paths"]["/api/v1/votes"]["post"]["responses"]
    assert {"413", "414", "431", "503"} <= set(vote)
    assert "Retry-After" in vote["503"]["headers"]
    assert vote["201"]["links"]["post"]["operationId"] == "post_detail"
    assert {"414", "503"} <= set(schema["paths"]["/api/v1/authors"]["get"]["responses"])
