"""Public API v1: thin views; reads in api.services, writes through votes.services."""

from __future__ import annotations

from django.db import transaction
from django.db.models.functions import Lower
from django.http import Http404, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from config.ops.site_url import site_url
from votes import previews, rate_next
from votes import services as vote_services
from votes.models import Author, Post, Vote
from votes.platforms import PLATFORMS

from . import serializers as s
from . import services
from .base import BaseApiView, BaseListView, RawJSONResponse
from .pagination import LinkHeaderMixin, RankedPaginationMixin
from .permissions import IsTokenUser

RATE_NEXT_ABOUT = (
    "Merit picked these posts where ratings are thin; votes you cast on them count as a random sample, "
    "which fake accounts cannot steer."
)


def ping(request):
    """The benchmark's ceiling: a trivial Django view behind the same middleware and server."""
    return JsonResponse({"ok": True})


def _valid(serializer_class, data):
    if hasattr(data, "getlist"):  # query string: plain values, so "?platform=" is invalid, not "use the default"
        repeated = sorted(k for k, v in data.lists() if len(v) > 1)
        if repeated:
            raise ValidationError({k: ["Give this parameter once."] for k in repeated})
        data = data.dict()
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _platform_or_404(platform: str) -> str:
    if platform not in PLATFORMS:
        raise Http404
    return platform


class Page(LinkHeaderMixin, CursorPagination):
    page_size = 25
    page_size_query_param = "limit"
    max_page_size = 100

    def get_page_size(self, request):
        # DRF silently ignores a malformed limit; a public API should say so.
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        # isascii(): str.isdigit() also takes '²' (which int() refuses) and Arabic-Indic digits.
        digits = len(values) == 1 and values[0].isascii() and values[0].isdigit()
        if not digits or not 1 <= int(values[0]) <= self.max_page_size:
            raise ValidationError({"limit": [f"A whole number from 1 to {self.max_page_size}."]})
        return int(values[0])

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size, default=self.page_size)
        return parameters


class AuthorBatchView(BaseApiView):
    @extend_schema(
        operation_id="authors_batch",
        parameters=[s.BatchQuerySerializer],
        responses=s.AuthorBatchSerializer,
        summary="Look up many authors at once",
    )
    def get(self, request):
        query = _valid(s.BatchQuerySerializer, request.query_params)
        return RawJSONResponse(services.batch_json(query["platform"], query["handles"]))


class AuthorLookupView(BaseApiView):
    @extend_schema(
        operation_id="authors_lookup",
        request=s.LookupSerializer,
        responses=s.AuthorBatchSerializer,
        summary=f"Look up up to {s.MAX_POST_HANDLES} authors (POST form of the batch lookup)",
    )
    def post(self, request):
        data = _valid(s.LookupSerializer, request.data)
        return RawJSONResponse(services.batch_json(data["platform"], data["handles"]))


class AuthorDetailView(BaseApiView):
    @extend_schema(operation_id="author_detail", responses=s.AuthorSerializer, summary="One author's reputation")
    def get(self, request, platform: str, handle: str):
        handle = handle.lower()
        card = services.authors_lookup_json(_platform_or_404(platform), [handle])[handle]
        if card == "null":
            raise Http404
        return RawJSONResponse(services.absolute_urls(card))


class AuthorHistoryView(BaseApiView):
    @extend_schema(
        operation_id="author_history",
        parameters=[s.HistoryQuerySerializer],
        responses=s.HistorySerializer,
        summary="Daily reputation points",
    )
    def get(self, request, platform: str, handle: str):
        query = _valid(s.HistoryQuerySerializer, request.query_params)
        try:
            author = Author.objects.get_by_handle(_platform_or_404(platform), handle)
        except Author.DoesNotExist:
            raise Http404 from None
        points = services.author_history(author, query["days"])
        return Response({"platform": author.platform, "handle": author.handle, "points": points})


class AuthorSearchView(BaseListView):
    serializer_class = s.AuthorSerializer
    pagination_class = type("SearchPage", (Page,), {"ordering": "handle_lower"})

    def card(self, author):
        return services.author_card(author, services._rep_of(author), author.solicited_votes)

    @extend_schema(
        operation_id="authors_search",
        parameters=[s.SearchQuerySerializer],
        responses=s.AuthorSerializer(many=True),
        summary="Find authors by handle prefix",
    )
    def get(self, request):
        query = _valid(s.SearchQuerySerializer, request.query_params)
        prefix = query["q"].strip().lstrip("@").lower()
        authors = (
            Author.objects.annotate(handle_lower=Lower("handle"))
            .filter(platform=query["platform"], handle_lower__startswith=prefix)
            .select_related("reputation")
            .annotate(solicited_votes=services.solicited_votes_fallback())
        )
        return self.list_response(authors)


class LeaderboardView(BaseListView):
    serializer_class = s.AuthorSerializer
    # Pages through the ranking of one refit by position: a cursor keeps its place across refits.
    pagination_class = type("LeaderboardPage", (RankedPaginationMixin, Page), {"ordering": "rank"})

    def card(self, entry):
        return services.author_card(entry.author, services._rep_of(entry.author), entry.solicited_votes)

    @extend_schema(
        operation_id="leaderboard",
        parameters=[s.PlatformQuerySerializer],
        responses=s.AuthorSerializer(many=True),
        summary="Authors by score (established and provisional only)",
        description=(
            "Ordered as of the last full refit (every few minutes); the figures are current. A `next` cursor "
            "stays on the ranking its first page came from, so later refits cannot repeat or skip an author; "
            "after a few refits that ranking is dropped and the cursor answers 404."
        ),
    )
    def get(self, request):
        query = _valid(s.PlatformQuerySerializer, request.query_params)
        return self.list_response(services.leaderboard_entries(query["platform"]))


class AuthorChangesView(BaseApiView):
    @extend_schema(
        operation_id="authors_changes",
        parameters=[s.ChangesQuerySerializer],
        responses=s.ChangesSerializer,
        summary="Authors whose reputation changed, in order (a resumable feed)",
        description=(
            "Each author appears once, at its latest change, with its card as it is now. Start without `since` "
            "(or `since=0`), then pass the `cursor` of each answer as the next `since`: a change made after a "
            "cursor always comes after it. Store the cursor to resume later; an empty page means caught up. "
            "A change is a move in what the card shows: score, interval, status or vote counts."
        ),
    )
    def get(self, request):
        query = _valid(s.ChangesQuerySerializer, request.query_params)
        results, cursor, more = services.changes_page(int(query["since"]), query["limit"], query.get("platform"))
        next_url = replace_query_param(request.build_absolute_uri(), "since", cursor) if more else None
        response = Response({"results": results, "cursor": cursor, "next": next_url})
        if next_url:
            response["Link"] = f'<{next_url}>; rel="next"'
        return response


class PostDetailView(BaseApiView):
    personal = True  # carries the caller's own vote

    @extend_schema(operation_id="post_detail", responses=s.PostSerializer, summary="A post's quality and your vote")
    def get(self, request, platform: str, post_id: str):
        card = services.post_card(_platform_or_404(platform), post_id)
        if card is None:
            raise Http404
        body = {k: v for k, v in card.items() if k != "id"}
        body["my_vote"] = services.my_vote(request.user, card["id"])
        return Response(body)


class VoteListView(BaseListView):
    permission_classes = (IsTokenUser,)
    serializer_class = s.VoteSerializer
    pagination_class = type("VotePage", (Page,), {"ordering": "-id"})
    personal = True

    def card(self, vote):
        return services.vote_card(vote)

    @extend_schema(
        operation_id="votes_list",
        parameters=[s.MyVotesQuerySerializer],
        responses=s.VoteSerializer(many=True),
        summary="My votes",
    )
    def get(self, request):
        query = _valid(s.MyVotesQuerySerializer, request.query_params)
        votes = Vote.objects.filter(voter=request.user).select_related("post", "author")
        if query.get("platform"):
            votes = votes.filter(post__platform=query["platform"])
        if query.get("post_ids"):
            votes = votes.filter(post__external_id__in=query["post_ids"])
        return self.list_response(votes)

    @extend_schema(
        operation_id="vote_cast",
        request=s.VoteInputSerializer,
        responses={201: s.VoteSerializer, 200: s.VoteSerializer},
        summary="Cast or change my vote on a post (by URL, or platform + post_id + author)",
    )
    def post(self, request):
        data = _valid(s.VoteInputSerializer, request.data)
        # One transaction (one commit) for registering the post and casting the vote.
        with transaction.atomic():
            post = vote_services.post_register(
                url=data.get("url"), platform=data.get("platform"), post_id=data.get("post_id"),
                handle=data.get("author"),
            )
            vote = vote_services.vote_cast(
                voter=request.user, post=post, value=data["value"], reason=data.get("reason", ""), source="api"
            )
            if data.get("text"):  # what the voter's client saw, until the platform's own answer arrives
                previews.preview_offer_text(post=post, text=data["text"])
        vote.post, vote.author = post, post.author
        created = vote.newly_created  # by this request: another one may have cast it a moment earlier
        return Response(services.vote_card(vote), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RateNextView(BaseApiView):
    permission_classes = (IsTokenUser,)
    personal = True

    @extend_schema(
        operation_id="rate_next",
        responses=s.RateNextSerializer,
        summary="Posts Merit picked for me to rate next",
        description=(
            "Merit draws the posts (the caller cannot choose them), leaning toward authors and posts with thin "
            "evidence. The same picks come back until voted on or expired; a vote cast on one before it "
            "expires, through any client, is recorded as solicited."
        ),
    )
    def get(self, request):
        picks = rate_next.rate_next_assign(user=request.user)
        posts = Post.objects.select_related("author", "score", "preview").in_bulk([a.post_id for a in picks])
        results = [
            services.rate_next_card(posts[a.post_id], rate_next.expires_at(a)) for a in picks if a.post_id in posts
        ]
        page_url = site_url(request) + reverse("rate-next")
        return Response({"about": RATE_NEXT_ABOUT, "page_url": page_url, "results": results})


class VoteDetailView(BaseApiView):
    permission_classes = (IsTokenUser,)

    @extend_schema(operation_id="vote_retract", responses={204: None}, summary="Retract my vote on a post")
    def delete(self, request, platform: str, post_id: str):
        post = Post.objects.filter(platform=_platform_or_404(platform), external_id=post_id).first()
        if post is None or not vote_services.vote_retract(voter=request.user, post=post, source="api"):
            raise Http404("You have no vote on this post.")
        return Response(status=status.HTTP_204_NO_CONTENT)
