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
