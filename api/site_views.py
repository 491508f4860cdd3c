"""Site pages (session login, CSRF): pair a browser extension, list and revoke device tokens."""

from __future__ import annotations

import io
import json
import zipfile
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from knox.models import AuthToken

from config.ops.site_url import site_url

from .models import DeviceToken

DEFAULT_LABEL = "Browser extension"
EXTENSION_DIR = settings.BASE_DIR / "extension"


@lru_cache(maxsize=8)  # the folder changes only with a new release (and process); one zip per site address
def _extension_zip(server: str) -> bytes:
    """The extension folder as a zip to unpack and load (its tests left out), its default server this site."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(EXTENSION_DIR.rglob("*")):
            relative = path.relative_to(EXTENSION_DIR)
            if not path.is_file() or relative.parts[0] == "tests":
                continue
            name = f"merit-extension/{relative.as_posix()}"
            if relative.as_posix() == "src/config.js":  # badges work before pairing, against this site
                archive.writestr(name, f"self.MERIT_CONFIG = {{ defaultServer: {json.dumps(server)} }};\n")
            else:
                archive.write(path, name)
    return buffer.getvalue()


def extension_download(request):
    """/connect/merit-extension.zip: what "Load unpacked" needs, without cloning the repository."""
    response = HttpResponse(_extension_zip(site_url(request)), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="merit-extension.zip"'
    response["Cache-Control"] = "public, max-age=3600"
    return response


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
