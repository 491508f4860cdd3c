"""Abuse controls on accounts: failed logins lock out an address and an account (django-axes), sign-ups
are limited per address and per username, and sign-up does not say which usernames exist."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from tests.conftest import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"  # make_user's


def log_in(username: str, password: str, address: str = "198.51.100.7") -> tuple[int, Client]:
    client = Client(REMOTE_ADDR=address)
    response = client.post("/login/", {"username": username, "password": password})
    return response, client


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_an_address_is_locked_out_after_five_failed_logins_even_with_the_right_password(alice):
    for i in range(4):  # a password spray: a different account each time, from one address
        response, _ = log_in(f"user{i}", "guess")
        assert response.status_code == 200 and "correct username and password" in response.content.decode()
    assert log_in("user4", "guess")[0].status_code == 429  # the fifth failure locks the address
    response, client = log_in("alice", PASSWORD)
    assert response.status_code == 429
    assert "Log-in paused" in response.content.decode() and "15 minutes" in response.content.decode()
    assert response["Retry-After"] == "900"
    assert not logged_in(client)
    # Another address is not affected.
    response, client = log_in("alice", PASSWORD, address="203.0.113.20")
    assert response.status_code == 302 and logged_in(client)


def test_an_account_is_locked_out_after_five_failures_from_any_addresses(alice, bob):
    codes = [log_in("alice", "guess", address=f"192.0.2.{i + 1}")[0].status_code for i in range(5)]
    assert codes == [200, 200, 200, 200, 429]  # one account, a fresh address each time
    response, client = log_in("alice", PASSWORD, address="192.0.2.99")
    assert response.status_code == 429 and not logged_in(client)
    # Other accounts from the same addresses log in as usual.
    response, client = log_in("bob", PASSWORD, address="192.0.2.1")
    assert response.status_code == 302 and logged_in(client)


def test_the_lockout_ends_after_the_cool_off(alice):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(5):
            log_in("alice", "guess")
        assert log_in("alice", PASSWORD)[0].status_code == 429
        clock.shift(16 * 60)
        response, client = log_in("alice", PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_behind_a_proxy_the_lockout_counts_the_client_not_the_proxy(alice):
    with override_settings(REST_FRAMEWORK={**_rest_framework(), "NUM_PROXIES": 1}):
        for i in range(5):
            client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.66")
            client.post("/login/", {"username": f"user{i}", "password": "guess"})
        locked = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.66")
        other = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.67")
        assert locked.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 429
        assert other.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def _rest_framework() -> dict:
    from django.conf import settings

    return settings.REST_FRAMEWORK


def sign_up(username: str, address: str = "198.51.100.7"):
    return Client(REMOTE_ADDR=address).post(
        "/signup/", {"username": username, "password1": "a-long-unusual-passphrase", "password2": "a-long-unusual-passphrase"}
    )


@override_settings(SIGNUP_RATE_PER_ADDRESS="10/h")
def test_sign_ups_from_one_address_are_limited():
    for i in range(10):
        assert sign_up(f"newcomer{i}").status_code == 302
    response = sign_up("newcomer10")
    assert response.status_code == 429
    assert "Too many sign-ups" in response.content.decode() and int(response["Retry-After"]) > 0
    assert not get_user_model().objects.filter(username="newcomer10").exists()
    assert sign_up("newcomer10", address="203.0.113.20").status_code == 302  # another address may


@override_settings(SIGNUP_RATE_PER_USERNAME="5/h")
def test_probing_one_username_is_limited_across_addresses():
    make_user("target")
    for i in range(5):
        assert sign_up("target", address=f"192.0.2.{i + 1}").status_code == 400
    assert sign_up("TARGET", address="192.0.2.77").status_code == 429  # the same name, any case


def test_sign_up_does_not_say_that_an_account_exists():
    make_user("alice")
    taken = sign_up("Alice").content.decode()
    assert "not available" in taken
    assert "already exists" not in taken and "A user with that" not in taken
