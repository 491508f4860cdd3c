"""Admin for the raw facts. Votes and their log are read-only here: they change only through votes.services."""

from __future__ import annotations

from django.contrib import admin
from django.db import models

from . import previews
from .models import Author, HandleClaim, Post, PostPreview, RateAssignment, Vote, VoteEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # (Django 6.0's default)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ("handle", "platform", "follower_count", "owner", "owner_verified_at", "first_seen")
    list_filter = ("platform",)
    search_fields = ("handle",)
    # Ownership changes only through a proved claim (votes.claims), which keeps owner, its time and the
    # verified HandleClaim together.
    readonly_fields = ("first_seen", "owner", "owner_verified_at")


@admin.register(Post)
class PostAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "platform", "author", "first_seen")
    list_filter = ("platform",)
    search_fields = ("external_id", "author__handle")
    list_select_related = ("author",)
    raw_id_fields = ("author",)


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdmin):
    list_display = ("voter", "post", "author", "value", "reason", "solicited", "updated_at")
    list_filter = ("value", "reason", "solicited")
    search_fields = ("voter__username", "author__handle", "post__external_id")
    list_select_related = ("voter", "post", "author")
    raw_id_fields = ("voter", "post", "author")


@admin.register(VoteEvent)
class VoteEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "voter", "post", "action", "value", "previous_value", "source", "solicited")
    list_filter = ("action", "source", "solicited")
    search_fields = ("voter__username", "post__external_id")
    list_select_related = ("voter", "post")
    raw_id_fields = ("voter", "post")
    date_hierarchy = "at"


@admin.register(RateAssignment)
class RateAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("user", "post", "issued_at", "used_at")
    list_select_related = ("user", "post")
    raw_id_fields = ("user", "post")


@admin.register(PostPreview)
class PostPreviewAdmin(ReadOnlyAdmin):
    list_display = ("post", "status", "author_name", "created_at", "fetched_at", "attempts", "next_attempt_at")
    list_filter = ("status",)
    search_fields = ("post__external_id", "text", "author_name")
    list_select_related = ("post",)
    raw_id_fields = ("post",)
    actions = ["fetch_again"]

    @admin.action(description="Fetch again from the platform")
    def fetch_again(self, request, queryset):
        queued = sum(previews.preview_enqueue(post_id) for post_id in queryset.values_list("post_id", flat=True))
        self.message_user(request, f"{queued} fetch(es) queued.")


@admin.register(HandleClaim)
class HandleClaimAdmin(ReadOnlyAdmin):
    list_display = ("author", "user", "status", "created_at", "expires_at", "verified_at", "proof_url")
    list_filter = ("status",)
    search_fields = ("author__handle", "user__username", "code")
    list_select_related = ("author", "user")
    raw_id_fields = ("author", "user")
