"""Site pages (session login, CSRF): pair a browser extension, list and revoke device tokens."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from knox.models import AuthToken

from .models import DeviceToken

DEFAULT_LABEL = "Browser extension"


def token_issue(*, user, label: str) -> tuple[DeviceToken, str]:
    """Mint a per-device token; the plaintext exists only in the return value."""
    with transaction.atomic():
        auth_token, plaintext = AuthToken.objects.create(user=user)
        device = DeviceToken.objects.create(token=auth_token, label=label.strip()[:80] or DEFAULT_LABEL)
    return device, plaintext


@never_cache  # the page may carry a fresh token
@login_required
def connect(request):
    issued = None
    if request.method == "POST":
        device, plaintext = token_issue(user=request.user, label=request.POST.get("label", ""))
        issued = {"token": plaintext, "label": device.label}
    devices = (
        DeviceToken.objects.filter(token__user=request.user).select_related("token").order_by("-token__created")
    )
    return render(request, "api/connect.html", {
        "issued": issued,
        "devices": devices,
        "api_base": request.build_absolute_uri("/api/v1/"),
        "default_label": DEFAULT_LABEL,
    })


@require_POST
@login_required
def revoke(request, pk: int):
    device = get_object_or_404(DeviceToken, pk=pk, token__user=request.user)
    device.token.delete()  # cascades to the DeviceToken row
    return redirect("connect")


@require_POST
@login_required
def revoke_all(request):
    AuthToken.objects.filter(user=request.user).delete()
    return redirect("connect")
