"""Admin for derived state, plus the moderation pages: detected groups and authors under review.

Everything here is rebuilt by the next refit, so it is read-only; the one action is putting
stuck outbox rows back in the sweep.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.db.models import Avg, BigIntegerField, Count, F
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from votes.models import Vote

from .engine.types import GROUP_ID_STRIDE
from .models import (
    AuthorReputation,
    AuthorUnderReview,
    DetectedGroup,
    PendingRefresh,
    PostScore,
    RefitState,
    ReputationSnapshot,
    Status,
    VoterCredibility,
)

GROUPS_SHOWN = 100


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _votes_on(author_id: int) -> str:
    return reverse("admin:votes_vote_changelist") + f"?author__id__exact={author_id}"


@admin.register(AuthorReputation)
class AuthorReputationAdmin(ReadOnlyAdmin):
    list_display = ("author", "status", "score", "low", "high", "upvotes", "downvotes", "voters", "updated_at")
    list_filter = ("status", "algorithm")
    search_fields = ("author__handle",)
    list_select_related = ("author",)
    ordering = ("-score",)


@admin.register(AuthorUnderReview)
class AuthorUnderReviewAdmin(ReadOnlyAdmin):
    """Moderation: authors whose score the engine holds back, with what held it and their votes."""

    list_display = ("author", "status", "score", "votes_total", "coordinated_share", "held_back", "updated_at",
                    "votes_link")
    list_filter = ("status",)
    search_fields = ("author__handle",)
    list_select_related = ("author",)
    ordering = ("-updated_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status__in=(Status.UNDER_REVIEW, Status.CONTESTED))

    @admin.display(description="votes")
    def votes_total(self, rep) -> int:
        return rep.upvotes + rep.downvotes

    @admin.display(description="coordinated share")
    def coordinated_share(self, rep):
        return (rep.explanation or {}).get("coordinated_discount", {}).get("share_of_votes")

    @admin.display(description="unproven weight held back")
    def held_back(self, rep):
        return (rep.explanation or {}).get("unproven_pool", {}).get("held_back")

    @admin.display(description="")
    def votes_link(self, rep) -> str:
        return format_html('<a href="{}">votes</a>', _votes_on(rep.author_id))


def _with_group(queryset):
    return queryset.annotate(group_id=Cast(KT("flags__group"), BigIntegerField()))


class GroupFilter(admin.SimpleListFilter):
    title = "detected group"
    parameter_name = "group"

    def lookups(self, request, model_admin):
        return [("any", "in any group"), ("none", "in no group")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        queryset = _with_group(queryset)
        if value == "any":
            return queryset.filter(group_id__gte=0)
        if value == "none":
            return queryset.exclude(group_id__gte=0)
        return queryset.filter(group_id=int(value)) if value.lstrip("-").isdigit() else queryset.none()


@admin.register(VoterCredibility)
class VoterCredibilityAdmin(ReadOnlyAdmin):
    list_display = ("voter", "credibility", "group", "updated_at")
    list_filter = (GroupFilter,)
    search_fields = ("voter__username",)
    list_select_related = ("voter",)

    @admin.display(description="group")
    def group(self, cred):
        group = (cred.flags or {}).get("group", -1)
        return None if group is None or group < 0 else group


@admin.register(DetectedGroup)
class DetectedGroupAdmin(ReadOnlyAdmin):
    """Moderation: one row per co-voting group of the last refit, its members and the authors it voted on."""

    def changelist_view(self, request, extra_context=None):
        groups = list(
            _with_group(VoterCredibility.objects.all())
            .filter(group_id__gte=0)
            .values("group_id")
            .annotate(members=Count("pk"), credibility=Avg("credibility"))
            .order_by("-members", "group_id")[:GROUPS_SHOWN]
        )
        members_url = reverse("admin:reputation_votercredibility_changelist")
        # Votes per (group, author) for every shown group in one query (was one query per group).
        per_author: dict[int, list[dict]] = {}
        rows = (
            Vote.objects.filter(voter__credibility__flags__group__in=[g["group_id"] for g in groups])
            .annotate(group_id=Cast(F("voter__credibility__flags__group"), BigIntegerField()))
            .values("group_id", "author_id", "author__platform", "author__handle")
            .annotate(votes=Count("pk"))
            .order_by("group_id", "-votes", "author_id")
        )
        for row in rows:
            per_author.setdefault(row["group_id"], []).append({k: v for k, v in row.items() if k != "group_id"})
        for group in groups:
            group["size"] = group["group_id"] // GROUP_ID_STRIDE or group["members"]
            group["members_url"] = f"{members_url}?group={group['group_id']}"
            group["authors"] = per_author.get(group["group_id"], [])[:3]
            for author in group["authors"]:
                author["votes_url"] = _votes_on(author["author_id"])
        context = {
            **self.admin_site.each_context(request),
            "title": "Detected groups",
            "opts": self.model._meta,
            "groups": groups,
            "shown": GROUPS_SHOWN,
            "under_review_url": reverse("admin:reputation_authorunderreview_changelist"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/reputation/detected_groups.html", context)


class StuckFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("stuck", "stuck (the sweep gave up)"), ("retrying", "being retried")]

    def queryset(self, request, queryset):
        cap = settings.REPUTATION_OUTBOX_MAX_ATTEMPTS
        if self.value() == "stuck":
            return queryset.filter(attempts__gte=cap)
        if self.value() == "retrying":
            return queryset.filter(attempts__lt=cap)
        return queryset


@admin.register(PendingRefresh)
class PendingRefreshAdmin(admin.ModelAdmin):
    list_display = ("author", "version", "marked_at", "attempts", "stuck")
    list_filter = (StuckFilter,)
    list_select_related = ("author",)
    readonly_fields = ("author", "version", "marked_at", "attempts")
    ordering = ("-attempts", "marked_at")
    actions = ("retry",)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(boolean=True)
    def stuck(self, row) -> bool:
        return row.attempts >= settings.REPUTATION_OUTBOX_MAX_ATTEMPTS

    @admin.action(description="Retry: put back in the sweep (due at once)", permissions=["change"])
    def retry(self, request, queryset):
        due = timezone.now() - timedelta(seconds=settings.REPUTATION_SWEEP_AFTER_SECONDS + 1)
        count = queryset.update(attempts=0, marked_at=due)
        self.message_user(request, f"{count} refreshes go out with the next sweep.")


@admin.register(ReputationSnapshot)
class ReputationSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("author", "day", "score", "low", "high", "votes", "coordinated", "note")
    list_select_related = ("author",)
    search_fields = ("author__handle",)
    date_hierarchy = "day"


@admin.register(PostScore)
class PostScoreAdmin(ReadOnlyAdmin):
    list_display = ("post", "quality", "upvotes", "downvotes", "updated_at")
    list_select_related = ("post",)


@admin.register(RefitState)
class RefitStateAdmin(ReadOnlyAdmin):
    list_display = ("token", "created_at")
