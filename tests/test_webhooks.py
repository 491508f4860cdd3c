"""Signed webhooks for API-key holders: registered through the API, delivered by a real worker to a local
receiver, signed, retried with backoff, logged, and disabled after repeated failures."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from api import webhooks
from api.models import Webhook, WebhookDelivery
from reputation import changes

from .api_helpers import assert_problem, clear_local_cards, make_author, token_client  # noqa: F401
from .conftest import wait_for

FAST_RETRIES = {"WEBHOOK_RETRY_BASE_SECONDS": 0.2, "WEBHOOK_RETRY_MAX_SECONDS": 1, "WEBHOOK_TIMEOUT_SECONDS": 2}


class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next status in `statuses` (the last repeats)."""

    def __init__(self, statuses: list[int]):
        self.statuses, self.requests = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                code = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/merit"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(statuses):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _key(name="acme"):
    api_key, key = APIKey.objects.create_key(name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_key, client


def _a_change(handle: str, score: float = 70.0) -> None:
    make_author(handle, score=score)
    changes.changes_record()


# --- the API ---

@pytest.mark.django_db
def test_an_app_registers_lists_reads_and_deletes_its_webhooks(alice):
    _, client = _key()
    created = client.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert len(body["secret"]) == 64 and body["active"] is True and body["url"] == "http://127.0.0.1:9/hook"
    listed = client.get("/api/v1/webhooks")
    assert [w["id"] for w in listed.json()] == [body["id"]] and listed["Cache-Control"] == "private, no-cache"
    assert "secret" not in client.get(f"/api/v1/webhooks/{body['id']}").json()  # shown once

    _, other_app = _key("other")
    assert_problem(other_app.get(f"/api/v1/webhooks/{body['id']}"), 404)
    assert_problem(APIClient().get("/api/v1/webhooks"), 401)
    assert_problem(token_client(alice)[0].get("/api/v1/webhooks"), 403)  # people have no webhooks

    assert client.delete(f"/api/v1/webhooks/{body['id']}").status_code == 204
    assert not Webhook.objects.exists()


@pytest.mark.django_db
@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False)
def test_in_production_webhooks_need_public_https_urls():
    _, client = _key()
    for url in ("http://example.com/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://[::1]/hook"):
        body = assert_problem(client.post("/api/v1/webhooks", {"url": url}, format="json"), 400)
        assert body["errors"][0]["pointer"] == "#/url", url


def test_the_signature_is_an_hmac_of_the_timestamp_and_body_that_receivers_can_check():
    body, secret, now = b'{"id":"1"}', "s3cret", 1_800_000_000
    header = webhooks.signature(secret, now, body)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert webhooks.signature_valid(secret, header, body, now=now + 10)
    assert not webhooks.signature_valid(secret, header, body + b" ", now=now)  # tampered
    assert not webhooks.signature_valid("other", header, body, now=now)
    assert not webhooks.signature_valid(secret, header, body, now=now + 3600)  # replayed later


@pytest.mark.django_db
def test_a_webhook_hears_of_changes_after_it_was_made_with_one_delivery_in_flight(
    monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(webhooks, "_enqueue", sent.append)
    _a_change("before")
    api_key, _ = _key()
    webhook = webhooks.webhook_create(api_key=api_key, url="http://127.0.0.1:9/hook")
    assert webhooks.webhooks_dispatch() == 0  # nothing new since it was made

    _a_change("after")
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.webhooks_dispatch() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.payload["data"]["since"] == str(changes.changes_head() - 1)
    assert delivery.payload["data"]["until"] == str(changes.changes_head())
    _a_change("later")
    assert webhooks.webhooks_dispatch() == 0  # the first is still pending: the next will cover this too
    assert sent == [delivery.pk] and Webhook.objects.get(pk=webhook.pk).cursor == changes.changes_head() - 1


@pytest.mark.django_db
def test_an_attempt_is_claimed_so_a_duplicate_task_does_not_send_again(monkeypatch):
    posts = []
    monkeypatch.setattr(webhooks, "_post", lambda url, body, headers: posts.append(url) or (204, ""))
    monkeypatch.setattr(webhooks, "_enqueue", lambda pk: None)
    api_key, _ = _key()
    webhooks.webhook_create(api_key=api_key, url="http://127.0.0.1:9/hook")
    _a_change("writer")
    webhooks.webhooks_dispatch()
    delivery = WebhookDelivery.objects.get()
    assert webhooks.delivery_attempt(delivery.pk) is None
    assert webhooks.delivery_attempt(delivery.pk) is None  # redelivered task: already delivered
    assert len(posts) == 1 and WebhookDelivery.objects.get().state == "delivered"


# --- through the broker, on a real worker ---

@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_RETRIES, WEBHOOK_MAX_ATTEMPTS=4)
def test_a_webhook_is_delivered_signed_and_retried_with_backoff_by_the_worker(celery_worker_thread, receiver_factory):
    receiver = receiver_factory([500, 200])
    api_key, client = _key()
    secret = client.post("/api/v1/webhooks", {"url": receiver.url}, format="json").json()["secret"]
    _a_change("writer")

    assert webhooks.webhooks_dispatch() == 1
    delivered = wait_for(lambda: WebhookDelivery.objects.filter(state="delivered").first(), timeout=30)

    assert len(receiver.requests) == 2 and delivered.attempts == 2 and delivered.last_status == 200
    (first_headers, first_body), (headers, body) = receiver.requests
    assert first_body == body and first_headers["Merit-Delivery"] == headers["Merit-Delivery"] == str(delivered.pk)
    for sent_headers, sent_body in receiver.requests:
        assert webhooks.signature_valid(secret, sent_headers["Merit-Signature"], sent_body)
    event = json.loads(body)
    assert event["type"] == "authors.changed" and headers["Merit-Event"] == "authors.changed"
    feed = APIClient().get(event["data"]["changes_url"].split("127.0.0.1:8000")[-1]).json()
    assert [c["author"]["handle"] for c in feed["results"]] == ["writer"]
    log = client.get(f"/api/v1/webhooks/{delivered.webhook_id}/deliveries").json()["results"]
    assert [(d["state"], d["attempts"], d["last_status"]) for d in log] == [("delivered", 2, 200)]


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_RETRIES, WEBHOOK_MAX_ATTEMPTS=2, WEBHOOK_DISABLE_AFTER=2)
def test_a_webhook_that_keeps_failing_is_disabled_and_can_be_enabled_again(celery_worker_thread, receiver_factory):
    receiver = receiver_factory([503])
    api_key, client = _key()
    webhook_id = client.post("/api/v1/webhooks", {"url": receiver.url}, format="json").json()["id"]

    for handle in ("one", "two"):
        _a_change(handle)
        started = time.monotonic()
        assert webhooks.webhooks_dispatch() == 1
        wait_for(lambda: not WebhookDelivery.objects.filter(state="pending").exists(), timeout=30)
        assert time.monotonic() - started >= 0.2  # the retry waited its backoff
    assert len(receiver.requests) == 4  # two deliveries, two attempts each
    assert set(WebhookDelivery.objects.values_list("state", "attempts", "last_status")) == {("failed", 2, 503)}
    webhook = Webhook.objects.get(pk=webhook_id)
    assert not webhook.active and webhook.disabled_at and "2 deliveries" in webhook.disabled_reason

    _a_change("three")
    assert webhooks.webhooks_dispatch() == 0  # disabled: nothing is sent
    assert client.post(f"/api/v1/webhooks/{webhook_id}/enable").json()["active"] is True
    receiver.statuses = [200]
    assert webhooks.webhooks_dispatch() == 1  # what it missed, in one delivery
    wait_for(lambda: WebhookDelivery.objects.filter(state="delivered").exists(), timeout=30)
    assert Webhook.objects.get(pk=webhook_id).failed_deliveries == 0
