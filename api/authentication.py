"""Who is calling: a user's per-device knox token, or a third-party app's API key."""

from __future__ import annotations

import binascii

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework import exceptions
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser

from .models import DeviceToken

LAST_USED_RESOLUTION = 60  # seconds; at most one UPDATE per token per minute
# A verified token is remembered this long (one Redis read instead of a join and a hash per request).
# Revoking a token or deactivating its user drops the entry at once (signals below).
TOKEN_CACHE_SECONDS = 60


def _token_cache_key(digest: str) -> str:
    return f"api:tok:{digest[:64]}"


class TokenAuthentication(KnoxTokenAuthentication):
    """knox, plus a throttled last-used stamp; expiry checked on this token only.

    knox's own cleanup scans every token of the user on each request; expired
    tokens of other devices do not need deleting on the hot path.
    """

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False

    def authenticate_credentials(self, token: bytes):
        try:
            key = _token_cache_key(hash_token(token.decode()))
        except (TypeError, ValueError, binascii.Error):
            return super().authenticate_credentials(token)  # knox words the error
        remembered = cache.get(key)
        if remembered is not None:
            user, auth_token = remembered
            if not self._cleanup_token(auth_token) and user.is_active:
                return user, auth_token
        user, auth_token = super().authenticate_credentials(token)
        cache.set(key, (user, auth_token), TOKEN_CACHE_SECONDS)
        return user, auth_token

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        if cache.add(f"api:tok-used:{token.digest[:32]}", 1, LAST_USED_RESOLUTION):
            DeviceToken.objects.filter(token_id=token.digest).update(last_used_at=timezone.now())
        return user, token


@receiver(post_delete, sender=AuthToken)
def _forget_revoked_token(sender, instance, **kwargs):
    cache.delete(_token_cache_key(instance.digest))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _forget_tokens_of_deactivated_user(sender, instance, **kwargs):
    if not instance.is_active:
        digests = AuthToken.objects.filter(user=instance).values_list("digest", flat=True)
        cache.delete_many([_token_cache_key(d) for d in digests])


class ApiKeyAuthentication:
    """`Authorization: Api-Key <prefix>.<secret>`: an app, never a person (request.user stays anonymous)."""

    keyword = "Api-Key"
    parser = KeyParser()

    def authenticate(self, request):
        key = self.parser.get_from_authorization(request)
        if key is None:
            return None
        cache_key = f"api:key:{key.partition('.')[0][:8]}"
        api_key = cache.get(cache_key)
        if api_key is None or not api_key.is_valid(key):
            try:
                api_key = APIKey.objects.get_from_key(key)
            except APIKey.DoesNotExist:
                raise exceptions.AuthenticationFailed("Invalid API key.") from None
            if api_key.has_expired:
                raise exceptions.AuthenticationFailed("This API key has expired.")
            # Short TTL so a revoked key stops working within seconds.
            cache.set(cache_key, api_key, 30)
        return AnonymousUser(), api_key

    def authenticate_header(self, request):
        return self.keyword


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.TokenAuthentication"
    name = "userToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "A per-device user token from /connect/: `Token <token>`. Required to vote.",
        }


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "appApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "A third-party app key: `Api-Key <prefix>.<secret>`. Higher read quota; cannot vote.",
        }
