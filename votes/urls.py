from django.contrib.auth import views as auth_views
from django.urls import path

from . import badges, views

urlpatterns = [
    path("", views.feed, name="feed"),
    path("rate/", views.rate, name="rate"),
    path("p/<int:pk>/", views.post_detail, name="post"),
    path("p/<int:pk>/quality/", views.post_quality, name="post-quality"),
    path("vote/<int:post_id>/", views.vote, name="vote"),
    path("a/<str:platform>/<str:handle>/", views.author, name="author"),
    path("a/<str:platform>/<str:handle>/claim/", views.author_claim, name="author-claim"),
    path("a/<str:platform>/<str:handle>/claim/verify/", views.author_claim_verify, name="author-claim-verify"),
    path("badge/<str:platform>/<str:handle>.svg", badges.badge, name="badge"),
    path("leaderboard/", views.leaderboard, name="leaderboard"),
    path("me/votes/", views.my_votes, name="my-votes"),
    path("rate-next/", views.rate_next, name="rate-next"),
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
