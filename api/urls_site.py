from django.urls import path

from . import site_views

urlpatterns = [
    path("connect/", site_views.connect, name="connect"),
    path("connect/merit-extension.zip", site_views.extension_download, name="extension-download"),
    path("connect/tokens/<int:pk>/revoke/", site_views.revoke, name="connect-revoke"),
    path("connect/tokens/revoke-all/", site_views.revoke_all, name="connect-revoke-all"),
]
