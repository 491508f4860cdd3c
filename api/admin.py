"""Admin for the API app: device tokens (knox registers its own AuthToken admin), webhooks and their log."""

from __future__ import annotations

from django.contrib import admin
from django.db import models

from .models import DeviceToken, Webhook, WebhookDelivery


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin):
    list_display = ("label", "user", "created", "expiry", "last_used_at")
    search_fields = ("label", "token__user__username")
    list_select_related = ("token__user",)
    readonly_fields = ("token", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False  # minted on /connect/ only: the plaintext exists once

    @admin.display(ordering="token__user")
    def user(self, device):
        return device.token.user

    @admin.display(ordering="token__created")
    def created(self, device):
        return device.token.created

    @admin.display(ordering="token__expiry")
    def expiry(self, device):
        return device.token.expiry


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # (Django 6.0's default)
    list_display = ("url", "api_key", "active", "failed_deliveries", "cursor", "created_at", "disabled_at")
    list_filter = ("active",)
    search_fields = ("url", "api_key__name")
    list_select_related = ("api_key",)
    readonly_fields = ("api_key", "secret", "cursor", "failed_deliveries", "disabled_at", "disabled_reason", "active")
    actions = ("enable",)

    def has_add_permission(self, request) -> bool:
        return False  # apps register their own (POST /api/v1/webhooks)

    @admin.action(description="Enable again (covers what they missed)", permissions=["change"])
    def enable(self, request, queryset):
        from .webhooks import webhook_enable

        for webhook in queryset:
            webhook_enable(webhook)
        self.message_user(request, f"{queryset.count()} webhooks enabled.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "webhook", "event", "state", "attempts", "last_status", "last_error", "created_at",
                    "finished_at")
    list_filter = ("state", "event")
    list_select_related = ("webhook",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
