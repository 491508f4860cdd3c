from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("config.ops.urls")),  # /healthz, /readyz, /metrics
    path("api/v1/", include("api.urls")),
    path("", include("api.urls_site")),
    path("", include("votes.urls")),
    # A page of plain words, no data: a template is all it needs.
    path("how-scores/", TemplateView.as_view(template_name="how_scores.html"), name="how-scores"),
]
