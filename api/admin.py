"""Admin for the API app: device tokens (knox registers its own AuthToken admin)."""

from __future__ import annotations

from django.contrib import admin

from .models import DeviceToken


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
