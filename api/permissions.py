from __future__ import annotations

from knox.models import AuthToken
from rest_framework.permissions import BasePermission

from .problems import ApiKeyCannotVote


class IsTokenUser(BasePermission):
    """Only a person, signed in with a per-device token, may vote or list their votes."""

    message = "Voting needs a user token: Authorization: Token <token> (get one at /connect/)."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, AuthToken) and request.user.is_authenticated:
            return True
        if request.auth is not None:  # an API key: identified, but an app
            raise ApiKeyCannotVote()
        return False
