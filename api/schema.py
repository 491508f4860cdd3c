"""drf-spectacular hooks: one path per operation, problem+json on every error status, the rules of a vote's
body that no single field states, and the links between operations (for clients and stateful testing)."""

from __future__ import annotations

from votes.platforms import PLATFORMS

# The ProblemDetail component every error response points at (see api.problems).
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
                "required": ["pointer", "detail"],
            },
        },
        "retry_after": {"type": "integer"},
    },
    "required": ["type", "title", "status", "detail", "instance"],
}


PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetail"}
COMMON_ERRORS = {
    "400": "Invalid parameters or body.",
    "401": "Invalid or missing credentials.",
    "403": "Not allowed (e.g. an API key trying to vote).",
    "404": "Not found (or an invalid pagination cursor).",
    "406": "Only JSON is available.",
    # Answered by gunicorn itself (config/gunicorn.py makes its answers problem+json too).
    "414": "The request line (method, path and query) is over 4094 bytes.",
    "429": "Rate limited; see Retry-After and X-RateLimit-*.",
    "431": "Too many request headers (over 100), or one over 8190 bytes.",
    "503": "The database is unavailable for a moment (e.g. restarting); retry after Retry-After seconds.",
}
BODY_ERRORS = {"413": "The body is over 1 MB (DATA_UPLOAD_MAX_MEMORY_SIZE).", "415": "Send a JSON body."}
EXTRA_ERRORS = {("post", "/api/v1/votes"): {"409": "The post id is registered under another author."}}
RATE_HEADERS = {
    "X-RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Requests allowed in the current window."},
    "X-RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Requests left in the window."},
    "X-RateLimit-Reset": {"schema": {"type": "integer"}, "description": "When the window resets (epoch seconds)."},
}
RETRY_AFTER = {"schema": {"type": "integer"}, "description": "Seconds to wait before trying again."}


def ecma(pattern: str) -> str:
    """A server-side pattern as drf-spectacular publishes it (votes.platforms explains how they are written)."""
    pattern = pattern.encode("ascii", "backslashreplace").decode().replace(r"\x", r"\u00")
    return pattern.replace(r"\Z", "$").replace(r"\A", "^")


def vote_input_rules() -> dict:
    """What a vote's body must hold beyond each field's own rule, as api.serializers and votes.services check it:
    a `url`, or else `platform`, `post_id` and `author` in that platform's grammar; a reason only with a
    downvote; no `solicited`."""
    ids = ["platform", "post_id", "author"]
    by_url = {"required": ["url"], "not": {"anyOf": [{"required": [name]} for name in ids]}}
    by_id = [
        {
            "required": ids,
            "not": {"required": ["url"]},
            "properties": {
                "platform": {"enum": [p.code]},
                "post_id": {"pattern": ecma(p.post_id.pattern)},
                "author": {"pattern": ecma(rf"\A@?{p.author_pattern}\Z")},
            },
        }
        for p in PLATFORMS.values()
    ]
    reason_on_downvotes = [{"properties": {"value": {"enum": [-1]}}}, {"properties": {"reason": {"enum": [""]}}}]
    return {"oneOf": [by_url, *by_id], "anyOf": reason_on_downvotes, "not": {"required": ["solicited"]}}


def _link(operation_id: str, description: str, **parameters: str) -> dict:
    return {"operationId": operation_id, "description": description, "parameters": parameters}


_AUTHOR_OF_RESULT = {"platform": "$response.body#/results/0/platform", "handle": "$response.body#/results/0/handle"}
_VOTED_POST = {"platform": "$response.body#/platform", "post_id": "$response.body#/post_id"}
_AUTHOR_LINKS = {
    "author": _link("author_detail", "The first author listed.", **_AUTHOR_OF_RESULT),
    "history": _link("author_history", "The first author's daily points.", **_AUTHOR_OF_RESULT),
}
_VOTE_LINKS = {
    "post": _link("post_detail", "The post voted on, with my vote.", **_VOTED_POST),
    "my_vote": _link(
        "votes_list", "My vote on this post.", platform="$response.body#/platform", post_ids="$response.body#/post_id"
    ),
    "retract": _link("vote_retract", "Retract this vote.", **_VOTED_POST),
}
# (method, path, status) -> OpenAPI links from that answer.
LINKS = {
    ("get", "/api/v1/authors/search", "200"): _AUTHOR_LINKS,
    ("get", "/api/v1/leaderboard", "200"): _AUTHOR_LINKS,
    ("get", "/api/v1/authors/{platform}/{handle}", "200"): {
        "history": _link("author_history", "Daily points.", platform="$response.body#/platform",
                         handle="$response.body#/handle"),
    },
    ("post", "/api/v1/votes", "201"): _VOTE_LINKS,
    ("post", "/api/v1/votes", "200"): _VOTE_LINKS,
    ("get", "/api/v1/votes", "200"): {
        "post": _link("post_detail", "The first post voted on.", platform="$response.body#/results/0/platform",
                      post_id="$response.body#/results/0/post_id"),
    },
    ("get", "/api/v1/rate-next", "200"): {
        "post": _link("post_detail", "The first pick.", platform="$response.body#/results/0/platform",
                      post_id="$response.body#/results/0/post_id"),
        "vote": {
            "operationId": "vote_cast",
            "description": "Vote on the first pick (then the vote is solicited).",
            "requestBody": {
                "platform": "$response.body#/results/0/platform",
                "post_id": "$response.body#/results/0/post_id",
                "author": "$response.body#/results/0/author",
                "value": 1,
            },
        },
    },
}


def drop_slashed_twins(endpoints):
    """api.urls registers each route twice (with and without '/'); document the canonical one."""
    paths = {e[0] for e in endpoints}
    return [e for e in endpoints if not (e[0].endswith("/") and e[0][:-1] in paths)]


def add_problem_responses(result, generator, request, public):
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["ProblemDetail"] = PROBLEM_SCHEMA
    components.setdefault("headers", {}).update(RATE_HEADERS)
    vote_input = components["schemas"].get("VoteInputRequest")
    if vote_input is not None:
        vote_input.update(vote_input_rules())
    header_refs = {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_HEADERS}
    for route, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            errors = {**COMMON_ERRORS, **EXTRA_ERRORS.get((method, route), {})}
            if method in ("post", "put", "patch"):
                errors = {**errors, **BODY_ERRORS}
            for code, description in sorted(errors.items()):
                responses.setdefault(
                    code, {"description": description, "content": {"application/problem+json": {"schema": PROBLEM_REF}}}
                )
            for code, response in responses.items():
                response.setdefault("headers", {}).update(header_refs)
                if code in ("429", "503"):
                    response["headers"]["Retry-After"] = RETRY_AFTER
                if (method, route, code) in LINKS:
                    response["links"] = LINKS[(method, route, code)]
    return result
