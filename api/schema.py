"""drf-spectacular hooks: one path per operation, and problem+json on every error status."""

from __future__ import annotations

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
    "429": "Rate limited; see Retry-After and X-RateLimit-*.",
}
EXTRA_ERRORS = {("post", "/api/v1/votes"): {"409": "The post id is registered under another author."},
                ("post", "/api/v1/authors/lookup"): {"415": "Send a JSON body."}}
RATE_HEADERS = {
    "X-RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Requests allowed in the current window."},
    "X-RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Requests left in the window."},
    "X-RateLimit-Reset": {"schema": {"type": "integer"}, "description": "When the window resets (epoch seconds)."},
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
    if vote_input is not None:  # either a URL, or platform + post_id + author
        vote_input["anyOf"] = [{"required": ["url"]}, {"required": ["platform", "post_id", "author"]}]
    header_refs = {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_HEADERS}
    for route, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            errors = {**COMMON_ERRORS, **EXTRA_ERRORS.get((method, route), {})}
            if method in ("post", "put", "patch"):
                errors.setdefault("415", "Send a JSON body.")
            for code, description in errors.items():
                responses.setdefault(
                    code, {"description": description, "content": {"application/problem+json": {"schema": PROBLEM_REF}}}
                )
            for response in responses.values():
                response.setdefault("headers", {}).update(header_refs)
    return result
