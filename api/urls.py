"""/api/v1/: every path answers with and without a trailing slash (no redirects for API clients)."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.urls import path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from . import problems, views, webhook_views

app_name = "api"


def both(route: str, view, name: str) -> list:
    # The slashed twin is dropped from the schema by api.schema.drop_slashed_twins.
    return [path(route, view, name=name), path(route + "/", view)]


urlpatterns = [
    *both("ping", views.ping, "ping"),
    *both("authors", views.AuthorBatchView.as_view(), "authors-batch"),
    *both("authors/lookup", views.AuthorLookupView.as_view(), "authors-lookup"),
    *both("authors/search", views.AuthorSearchView.as_view(), "authors-search"),
    *both("authors/changes", views.AuthorChangesView.as_view(), "authors-changes"),
    *both("authors/<str:platform>/<str:handle>", views.AuthorDetailView.as_view(), "author-detail"),
    *both("authors/<str:platform>/<str:handle>/history", views.AuthorHistoryView.as_view(), "author-history"),
    *both("posts/<str:platform>/<str:post_id>", views.PostDetailView.as_view(), "post-detail"),
    *both("leaderboard", views.LeaderboardView.as_view(), "leaderboard"),
    *both("votes", views.VoteListView.as_view(), "votes"),
    *both("votes/<str:platform>/<str:post_id>", views.VoteDetailView.as_view(), "vote-detail"),
    *both("rate-next", views.RateNextView.as_view(), "rate-next"),
    *both("webhooks", webhook_views.WebhookListView.as_view(), "webhooks"),
    *both("webhooks/<str:pk>", webhook_views.WebhookDetailView.as_view(), "webhook-detail"),
    *both("webhooks/<str:pk>/enable", webhook_views.WebhookEnableView.as_view(), "webhook-enable"),
    *both("webhooks/<str:pk>/deliveries", webhook_views.WebhookDeliveriesView.as_view(), "webhook-deliveries"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    # ReDoc adds inline styles as its bundle loads, before a nonce can reach it: its page alone allows them.
    path("redoc/", csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(SpectacularRedocView.as_view(url_name="api:schema")),
         name="redoc"),
    path("problems/<slug:slug>", problems.problem_type_detail, name="problem-type"),
    re_path(r"^.*$", problems.not_found),
]
