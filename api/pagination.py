"""Pagination pieces shared by the list views: RFC 8288 `Link` headers, and the leaderboard's cursor."""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.utils.urls import replace_query_param

from reputation import leaderboard

if TYPE_CHECKING:  # both mixins go in front of a CursorPagination: typed as one, plain classes at run time
    PaginationMixinBase = CursorPagination
else:
    PaginationMixinBase = object


class LinkHeaderMixin(PaginationMixinBase):
    """Every paged answer also says where its neighbours are: `Link: <url>; rel="next", <url>; rel="prev"`."""

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        links = [(self.get_next_link(), "next"), (self.get_previous_link(), "prev")]
        header = ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links if url)
        if header:
            response["Link"] = header
        return response


_RANK_CURSOR = re.compile(r"r(\d{1,18})\.(\d{1,9})")


class RankedPaginationMixin(PaginationMixinBase):
    """Pages through one frozen leaderboard ranking by position (reputation.leaderboard).

    The cursor names the ranking and an offset in it, so later refits cannot shift a reader's place;
    a cursor whose ranking was dropped (after LEADERBOARD_KEEP refits) is a 404 saying so. Mixed in front
    of a CursorPagination for its page-size rules and its documented parameters and shape.
    """

    page_size: int  # never None here: the Page this is mixed into has a default

    def paginate_queryset(self, queryset, request, view=None):
        page_size = self.get_page_size(request)
        assert page_size is not None, "mixed into a Page, which has a default page size"
        self.request, self.page_size = request, page_size
        ranking, self.offset = self._decode(request.query_params.get(self.cursor_query_param))
        if ranking is None:
            ranking = leaderboard.ranking_current()
        elif not leaderboard.ranking_exists(ranking):
            raise NotFound("This leaderboard cursor's ranking has expired (a few refits keep it); start again "
                           "without a cursor.")
        self.ranking = ranking
        rows = list(
            queryset.filter(ranking_id=ranking, rank__gt=self.offset).order_by("rank")[: self.page_size + 1]
        )
        self.has_next = len(rows) > self.page_size
        return rows[: self.page_size]

    def _decode(self, cursor: str | None) -> tuple[int | None, int]:
        if cursor is None:
            return None, 0
        try:
            found = _RANK_CURSOR.fullmatch(base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii"))
        except (ValueError, UnicodeError, binascii.Error):
            found = None
        if found is None:
            raise NotFound(self.invalid_cursor_message)
        return int(found[1]), int(found[2])

    def _link(self, offset: int) -> str:
        cursor = base64.urlsafe_b64encode(f"r{self.ranking}.{offset}".encode()).decode()
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def get_next_link(self):
        return self._link(self.offset + self.page_size) if self.has_next else None

    def get_previous_link(self):
        return self._link(max(self.offset - self.page_size, 0)) if self.offset > 0 else None
