"""The /connect/ page pairs the extension: it mints a device token, lists devices, revokes them."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from api.models import DeviceToken

from .api_helpers import clear_local_cards  # noqa: F401
from .conftest import make_user

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_connect_needs_login():
    response = Client().get("/connect/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_connect_mints_a_token_the_extension_can_read_and_use(alice):
    page = signed_in(alice).post("/connect/", {"label": "Laptop Chromium"})
    assert page.status_code == 200
    html = page.content.decode()
    match = re.search(r'<div id="merit-connect" data-token="([^"]+)" data-api-base="([^"]+)"', html)
    assert match, html
    token, api_base = match.groups()
    assert api_base == "http://testserver/api/v1/"
    assert "no-store" in page["Cache-Control"] or "no-cache" in page["Cache-Control"]
    assert DeviceToken.objects.get(token__user=alice).label == "Laptop Chromium"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/votes").status_code == 200
    assert DeviceToken.objects.get(token__user=alice).last_used_at is not None
    listing = signed_in(alice).get("/connect/").content.decode()
    assert "Laptop Chromium" in listing and "merit-connect" not in listing


def test_revoke_kills_the_token_and_only_the_owner_can_revoke(alice, bob):
    signed_in(alice).post("/connect/", {"label": "Phone"})
    device = DeviceToken.objects.get(token__user=alice)
    assert signed_in(bob).post(f"/connect/tokens/{device.pk}/revoke/").status_code == 404
    assert signed_in(alice).get(f"/connect/tokens/{device.pk}/revoke/").status_code == 405
    response = signed_in(alice).post(f"/connect/tokens/{device.pk}/revoke/")
    assert response.status_code == 302
    assert not AuthToken.objects.filter(user=alice).exists() and not DeviceToken.objects.exists()


def test_revoke_all_only_touches_my_tokens(alice):
    carol = make_user("carol")
    for user in (alice, alice, carol):
        signed_in(user).post("/connect/", {"label": "x"})
    signed_in(alice).post("/connect/tokens/revoke-all/")
    assert AuthToken.objects.filter(user=alice).count() == 0
    assert AuthToken.objects.filter(user=carol).count() == 1
