"""Per-device knox tokens get a human label and a last-used time for the /connect/ page."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DeviceToken(models.Model):
    # Revoking deletes the knox token; this row goes with it.
    token = models.OneToOneField(settings.KNOX_TOKEN_MODEL, on_delete=models.CASCADE, related_name="device")
    label = models.CharField(max_length=80)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.label


class Webhook(models.Model):
    """A third-party app's endpoint, told when authors' reputations change (api.webhooks).

    Belongs to an API key (an app, never a person). `cursor` is the change-feed number announced
    last; `failed_deliveries` counts deliveries in a row that ran out of attempts, and reaching
    WEBHOOK_DISABLE_AFTER turns the webhook off until its owner enables it again.
    """

    api_key = models.ForeignKey("rest_framework_api_key.APIKey", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64, help_text="HMAC-SHA256 key of the Merit-Signature header.")
    created_at = models.DateTimeField(auto_now_add=True)
    active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    failed_deliveries = models.PositiveIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(active=True, disabled_at__isnull=True) | models.Q(active=False, disabled_at__isnull=False),
                name="webhook_disabled_when_inactive",
            ),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """The delivery log: one event for one webhook, with its attempts. Retried with backoff by Celery."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Pending: when the next attempt may start (an attempt pushes it past its own timeout, a lease).
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="HTTP status of the last attempt.")
    last_error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            # One delivery in flight per webhook: the next one covers everything since, so none is lost.
            models.UniqueConstraint(
                "webhook", condition=models.Q(state="pending"), name="webhookdelivery_one_pending_per_webhook"
            ),
            models.CheckConstraint(
                condition=models.Q(state="pending", finished_at__isnull=True)
                | (~models.Q(state="pending") & models.Q(finished_at__isnull=False)),
                name="webhookdelivery_finished_when_done",
            ),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="webhookdelivery_due")]
