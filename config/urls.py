from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("config.ops.urls")),  # /healthz, /readyz, /metrics
    path("api/v1/", include("api.urls")),
    path("", include("api.urls_site")),
    path("", include("votes.urls")),
]
