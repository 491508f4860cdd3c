"""The API's JSON parser: a body nested too deeply is a 400 (json raises RecursionError, not ValueError,
a few thousand levels down), one too large a 413, never a 500.

DRF 3.18 hands JSON parsers request.body, which Django has already held to DATA_UPLOAD_MAX_MEMORY_SIZE
(api.problems turns its refusal into the 413); the parser keeps to the same limit whatever stream it gets.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, parsers
from rest_framework.utils import json

# Deeper than any request body this API takes (those are two levels deep), far below the recursion limit.
MAX_DEPTH = 32


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    slug = "payload-too-large"
    default_code = "payload_too_large"

    def __init__(self):
        super().__init__(f"A request body may be at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.")


def _too_deep(value, limit: int) -> bool:
    """Whether containers nest more than `limit` levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge()
        encoding = parsers.get_encoding(parser_context)  # type: ignore[attr-defined]  # DRF 3.18 has it; its stubs lag
        try:
            data = json.loads(body.decode(encoding), parse_constant=json.strict_constant if self.strict else None)
        except RecursionError:
            raise exceptions.ParseError(f"JSON nested more than {MAX_DEPTH} levels deep.") from None
        except ValueError as exc:  # also bad UTF-8 and integers too long to convert
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if isinstance(data, (dict, list)) and _too_deep(data, MAX_DEPTH):
            raise exceptions.ParseError(f"JSON nested more than {MAX_DEPTH} levels deep.")
        return data
