"""Signed webhooks for API-key holders: "authors changed", with the change feed as the source of truth.

Each dispatch (beat, every WEBHOOK_DISPATCH_SECONDS) gives every active webhook that is behind the
feed one delivery covering everything since its last: the event names the feed range, and the app
reads the changes from GET /api/v1/authors/changes. One delivery is in flight per webhook (a DB
constraint), so a slow or dead receiver gets one event covering more, not a pile of them.

A delivery is POSTed with `Merit-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
a 2xx answer delivers it. Otherwise Celery retries it with exponential backoff, up to
WEBHOOK_MAX_ATTEMPTS; after WEBHOOK_DISABLE_AFTER deliveries in a row ran out of attempts, the webhook
is disabled. Attempts are claimed with a conditional UPDATE, so a redelivered task cannot send twice
at once, and the dispatch re-queues deliveries whose task was lost.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from config.ops.site_url import site_url
from reputation.changes import changes_head

from .models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)
EVENT = "authors.changed"
SIGNATURE_HEADER = "Merit-Signature"
MAX_WEBHOOKS_PER_KEY = 5


class WebhookURLError(ValueError):
    pass


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Merit-Signature value for a body sent at `timestamp` (what receivers recompute)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signature_valid(secret: str, header: str, body: bytes, *, tolerance: float = 300, now: float | None = None) -> bool:
    """A receiver's check: the HMAC matches and the timestamp is recent (refuses replays)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    timestamp = int(parts["t"])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={parts['v1']}")


def _check_url(url: str) -> None:
    """HTTPS to a public address, unless WEBHOOK_ALLOW_PRIVATE_URLS (development and tests)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookURLError("Give an http(s) URL.")
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return
    if parts.scheme != "https":
        raise WebhookURLError("Webhook URLs must use https.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        raise WebhookURLError("The webhook's host does not resolve.") from None
    if not infos or not all(ipaddress.ip_address(info[4][0]).is_global for info in infos):
        raise WebhookURLError("Webhook URLs must point at a public address.")


def webhook_create(*, api_key, url: str) -> Webhook:
    """Register an endpoint for an app; it hears of changes from now on. The secret is on the result."""
    _check_url(url)
    if Webhook.objects.filter(api_key=api_key).count() >= MAX_WEBHOOKS_PER_KEY:
        raise WebhookURLError(f"An API key can have at most {MAX_WEBHOOKS_PER_KEY} webhooks.")
    return Webhook.objects.create(api_key=api_key, url=url, secret=secrets.token_hex(32), cursor=changes_head())


def webhook_enable(webhook: Webhook) -> Webhook:
    """Turn a disabled webhook back on; the next dispatch covers what it missed."""
    Webhook.objects.filter(pk=webhook.pk).update(active=True, disabled_at=None, disabled_reason="", failed_deliveries=0)
    webhook.refresh_from_db()
    return webhook


def _enqueue(delivery_id: int) -> None:
    from .tasks import deliver_webhook

    try:
        deliver_webhook.apply_async((delivery_id,))
    except Exception:  # broker down: the delivery row keeps the work, the next dispatch re-queues it
        log.warning("could not enqueue webhook delivery %s; the next dispatch will", delivery_id, exc_info=True)


def webhooks_dispatch() -> int:
    """Give each active webhook behind the feed one delivery; re-queue deliveries whose task was lost."""
    head = changes_head()
    now = timezone.now()
    pending = WebhookDelivery.objects.filter(webhook=OuterRef("pk"), state=WebhookDelivery.State.PENDING)
    behind = Webhook.objects.filter(active=True, cursor__lt=head).exclude(Exists(pending)).values_list("pk", "cursor")
    created = 0
    for webhook_id, since in behind:
        with transaction.atomic():
            # Claim the range: only one dispatcher moves this cursor from `since`.
            if not Webhook.objects.filter(pk=webhook_id, cursor=since, active=True).update(cursor=head):
                continue
            delivery = WebhookDelivery.objects.create(
                webhook_id=webhook_id, event=EVENT, payload={}, next_attempt_at=now
            )
            delivery.payload = _payload(delivery, since, head)
            delivery.save(update_fields=["payload"])
            transaction.on_commit(functools.partial(_enqueue, delivery.pk))
        created += 1
    lost = WebhookDelivery.objects.filter(
        state=WebhookDelivery.State.PENDING,
        next_attempt_at__lt=now - timedelta(seconds=settings.WEBHOOK_LOST_AFTER_SECONDS),
    ).values_list("pk", flat=True)
    for delivery_id in lost:
        _enqueue(delivery_id)
    return created


def _payload(delivery: WebhookDelivery, since: int, until: int) -> dict:
    base = site_url()  # SITE_URL: a worker has no request to take the address from
    return {
        "id": str(delivery.pk),
        "type": EVENT,
        "created_at": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "data": {
            "since": str(since),
            "until": str(until),
            "changes_url": f"{base}/api/v1/authors/changes?since={since}",
        },
    }


def backoff(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from WEBHOOK_RETRY_BASE_SECONDS, capped."""
    return min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1), settings.WEBHOOK_RETRY_MAX_SECONDS)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer like any other non-2xx: the URL is what the app registered


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict) -> tuple[int | None, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read(1024)
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:  # refused, timed out, TLS, bad URL
        return None, f"{type(exc).__name__}: {exc}"[:200]


def delivery_attempt(delivery_id: int) -> float | None:
    """Make the next attempt of a delivery; returns the seconds until a retry, or None when done.

    Claimed first (a conditional UPDATE that pushes next_attempt_at past this attempt's timeout), so
    two runs of the same task never send at once and a finished delivery is never sent again.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now + timedelta(seconds=1)
    ).update(attempts=F("attempts") + 1, next_attempt_at=lease)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    webhook = delivery.webhook
    if not webhook.active:
        _finish(delivery, WebhookDelivery.State.FAILED, None, "webhook disabled")
        return None
    problem = _url_problem(webhook.url)
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    if problem:
        status, error = None, problem
    else:
        status, error = _post(webhook.url, body, {
            "Content-Type": "application/json",
            "User-Agent": "Merit-Webhooks/1",
            "Merit-Event": delivery.event,
            "Merit-Delivery": str(delivery.pk),
            SIGNATURE_HEADER: signature(webhook.secret, int(time.time()), body),
        })
    # A finished delivery and its webhook's failure count change together (one transaction).
    if status is not None and 200 <= status < 300:
        with transaction.atomic():
            _finish(delivery, WebhookDelivery.State.DELIVERED, status, "")
            Webhook.objects.filter(pk=webhook.pk).update(failed_deliveries=0)
        return None
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        with transaction.atomic():
            _finish(delivery, WebhookDelivery.State.FAILED, status, error)
            _count_failure(webhook)
        return None
    delay = backoff(delivery.attempts)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        last_status=status, last_error=error, next_attempt_at=timezone.now() + timedelta(seconds=delay)
    )
    return delay


def _url_problem(url: str) -> str:
    try:
        _check_url(url)  # again at send time: the name may resolve elsewhere now
    except WebhookURLError as exc:
        return str(exc)
    return ""


def _finish(delivery: WebhookDelivery, state: str, status: int | None, error: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=state, finished_at=timezone.now(), last_status=status, last_error=error
    )


def _count_failure(webhook: Webhook) -> None:
    Webhook.objects.filter(pk=webhook.pk).update(failed_deliveries=F("failed_deliveries") + 1)
    disabled = Webhook.objects.filter(
        pk=webhook.pk, active=True, failed_deliveries__gte=settings.WEBHOOK_DISABLE_AFTER
    ).update(
        active=False, disabled_at=timezone.now(),
        disabled_reason=f"{settings.WEBHOOK_DISABLE_AFTER} deliveries in a row failed every attempt.",
    )
    if disabled:
        log.warning("webhook %s disabled after %s failed deliveries", webhook.pk, settings.WEBHOOK_DISABLE_AFTER)
