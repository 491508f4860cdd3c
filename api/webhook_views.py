"""/api/v1/webhooks: an app (API key) registers endpoints and reads their delivery log. Thin views over
api.webhooks; the serializers live here because nothing else uses them."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework_api_key.models import APIKey

from . import webhooks
from .base import BaseApiView, BaseListView, ViewMixinBase
from .models import Webhook, WebhookDelivery
from .pagination import LinkHeaderMixin


class NoStore(ViewMixinBase):
    """An app's own settings and log change under it: revalidate every time (ETags still give 304s)."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.has_header("Cache-Control"):
            response["Cache-Control"] = "private, no-cache"
        return response


class IsApiKey(BasePermission):
    message = "Webhooks belong to apps: send Authorization: Api-Key <key>."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, APIKey)


class WebhookInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text="Where Merit POSTs events (public https).")


class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField(allow_blank=True)
    failed_deliveries = serializers.IntegerField(help_text="Deliveries in a row that failed every attempt.")


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        help_text="Shown once: the key of the HMAC-SHA256 in each delivery's Merit-Signature header."
    )


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.CharField()
    state = serializers.ChoiceField(choices=WebhookDelivery.State.choices)
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    last_status = serializers.IntegerField(allow_null=True, help_text="HTTP status of the last attempt.")
    last_error = serializers.CharField(allow_blank=True)
    payload = serializers.DictField(help_text="The JSON body sent.")


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def webhook_card(webhook: Webhook) -> dict:
    return {
        "id": webhook.pk, "url": webhook.url, "active": webhook.active, "created_at": _iso(webhook.created_at),
        "disabled_at": _iso(webhook.disabled_at), "disabled_reason": webhook.disabled_reason,
        "failed_deliveries": webhook.failed_deliveries,
    }


def delivery_card(delivery: WebhookDelivery) -> dict:
    return {
        "id": delivery.pk, "event": delivery.event, "state": delivery.state, "attempts": delivery.attempts,
        "created_at": _iso(delivery.created_at), "finished_at": _iso(delivery.finished_at),
        "last_status": delivery.last_status, "last_error": delivery.last_error, "payload": delivery.payload,
    }


def _own_webhook(request, pk: str) -> Webhook:
    # A str in the URL, so any id reaches this view (and answers a problem, not the CSRF check's page).
    webhook = Webhook.objects.filter(pk=int(pk), api_key=request.auth).first() if pk.isascii() and pk.isdigit() and len(pk) <= 18 else None
    if webhook is None:
        raise Http404
    return webhook


class WebhookListView(NoStore, BaseApiView):
    permission_classes = (IsApiKey,)

    @extend_schema(operation_id="webhooks_list", responses=WebhookSerializer(many=True), summary="My app's webhooks")
    def get(self, request):
        return Response([webhook_card(w) for w in Webhook.objects.filter(api_key=request.auth).order_by("pk")])

    @extend_schema(
        operation_id="webhook_create",
        request=WebhookInputSerializer,
        responses={201: WebhookCreatedSerializer},
        summary="Register a webhook: POSTs `authors.changed` events, signed",
        description=(
            "Each event names a range of the change feed (`data.since`, `data.until`, `data.changes_url`); read "
            "the changes from GET /api/v1/authors/changes. Verify `Merit-Signature: t=<unix>,v1=<hex>`: the "
            "HMAC-SHA256, keyed by `secret`, of `<t>.<raw body>`; refuse old timestamps. Answer 2xx within 5 s. "
            "Failures are retried with backoff; after repeated failed deliveries the webhook is disabled "
            "(POST .../enable turns it back on). `Merit-Delivery` is the same on every retry of one event."
        ),
    )
    def post(self, request):
        data = WebhookInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            webhook = webhooks.webhook_create(api_key=request.auth, url=data.validated_data["url"])
        except webhooks.WebhookURLError as exc:
            raise ValidationError({"url": [str(exc)]}) from None
        return Response({**webhook_card(webhook), "secret": webhook.secret}, status=status.HTTP_201_CREATED)


class WebhookDetailView(NoStore, BaseApiView):
    permission_classes = (IsApiKey,)

    @extend_schema(operation_id="webhook_detail", responses=WebhookSerializer, summary="One of my app's webhooks")
    def get(self, request, pk: str):
        return Response(webhook_card(_own_webhook(request, pk)))

    @extend_schema(operation_id="webhook_delete", responses={204: None}, summary="Delete a webhook and its log")
    def delete(self, request, pk: str):
        _own_webhook(request, pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEnableView(BaseApiView):
    permission_classes = (IsApiKey,)

    @extend_schema(operation_id="webhook_enable", request=None, responses=WebhookSerializer,
                   summary="Turn a disabled webhook back on (it then hears of what it missed)")
    def post(self, request, pk: str):
        return Response(webhook_card(webhooks.webhook_enable(_own_webhook(request, pk))))


class DeliveryPage(LinkHeaderMixin, CursorPagination):
    page_size = 25
    ordering = "-id"


class WebhookDeliveriesView(NoStore, BaseListView):
    permission_classes = (IsApiKey,)
    serializer_class = DeliverySerializer
    pagination_class = DeliveryPage

    def card(self, delivery):
        return delivery_card(delivery)

    @extend_schema(operation_id="webhook_deliveries", responses=DeliverySerializer(many=True),
                   summary="A webhook's delivery log, newest first")
    def get(self, request, pk: str):
        return self.list_response(WebhookDelivery.objects.filter(webhook=_own_webhook(request, pk)))
