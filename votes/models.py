"""The raw facts: authors, posts and votes. Everything else is derived from these."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from .platforms import PLATFORM_CHOICES


class AuthorQuerySet(models.QuerySet):
    def with_handles(self, platform: str, handles: list[str]) -> AuthorQuerySet:
        # Matches the functional unique index on lower(handle).
        return self.alias(handle_lower=Lower("handle")).filter(
            platform=platform, handle_lower__in=[h.lower() for h in handles]
        )

    def get_by_handle(self, platform: str, handle: str) -> Author:
        return self.with_handles(platform, [handle]).get()


class Author(models.Model):
    platform = models.CharField(max_length=16, choices=PLATFORM_CHOICES)
    handle = models.CharField(max_length=253)
    follower_count = models.BigIntegerField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="linked_authors",
        help_text="The account that proved this handle is its own (votes.claims); it cannot vote on these posts.",
    )
    # When that proof was accepted. Set and cleared with `owner`, in the same transaction as the verified
    # HandleClaim (votes.claims), so readers (API cards, the engine's loader) need no join.
    owner_verified_at = models.DateTimeField(null=True, blank=True)
    first_seen = models.DateTimeField(auto_now_add=True)

    objects = AuthorQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("handle"), "platform", name="author_unique_handle_ci"),
            models.CheckConstraint(
                condition=Q(follower_count__isnull=True) | Q(follower_count__gte=0), name="author_followers_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(owner__isnull=True, owner_verified_at__isnull=True)
                | Q(owner__isnull=False, owner_verified_at__isnull=False),
                name="author_owner_has_verified_time",
            ),
        ]

    def __str__(self) -> str:
        return f"@{self.handle} ({self.platform})"


class Post(models.Model):
    platform = models.CharField(max_length=16, choices=PLATFORM_CHOICES)
    # Strings: X ids are 64-bit snowflakes, other platforms use opaque keys.
    external_id = models.CharField(max_length=255)  # Mastodon: "instance:status-id"
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="posts")
    url = models.URLField(max_length=500)
    first_seen = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint("platform", "external_id", name="post_unique_external_id")]

    def __str__(self) -> str:
        return self.url


class Reason(models.TextChoices):
    SPAM = "spam", "Spam"
    MISLEADING = "misleading", "Misleading"
    LOW_EFFORT = "low_effort", "Low effort"
    ABUSIVE = "abusive", "Abusive"


class Vote(models.Model):
    UP, DOWN = 1, -1

    # No single-column indexes on voter and author: unique (voter, post) and the (author, voter)
    # index below lead with them, and every extra index is work on each vote cast.
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="votes", db_index=False)
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="votes")
    # Denormalised from post.author (which never changes) so aggregation needs no join.
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="votes", db_index=False)
    value = models.SmallIntegerField()
    reason = models.CharField(max_length=16, choices=Reason.choices, blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # True when Merit picked the post for the voter ("Rate next") and the vote was cast while that
    # assignment was open: the voter could not have steered it. Set once, when the vote is created
    # (votes.services); a client can never set it. The database default keeps writers that name no
    # such column (bulk loads, COPY) valid, and their votes unsolicited.
    solicited = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint("voter", "post", name="vote_one_per_voter_per_post"),
            models.CheckConstraint(condition=Q(value__in=(1, -1)), name="vote_value_up_or_down"),
            models.CheckConstraint(condition=Q(reason="") | Q(value=-1), name="vote_reason_only_on_downvote"),
        ]
        indexes = [
            # Covers the per-author refresh's read (an index-only scan): without the included
            # columns its heaviest author (15k votes) reads one heap page per vote. `solicited` sits
            # next to `value` where created_at's alignment left padding: the entries stay 48 bytes.
            models.Index(
                fields=["author", "voter"], include=["post", "value", "solicited", "created_at"],
                name="vote_author_voter_cover2",
            ),
        ]


class VoteEvent(models.Model):
    """Append-only log of every vote change; any past state can be replayed from it."""

    class Action(models.TextChoices):
        CAST = "cast"
        CHANGED = "changed"
        RETRACTED = "retracted"

    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    value = models.SmallIntegerField(help_text="The value after the change; 0 after a retraction.")
    previous_value = models.SmallIntegerField(default=0)
    reason = models.CharField(max_length=16, blank=True, default="")
    source = models.CharField(max_length=16, default="web")
    # The vote's `solicited` after the change, so a replay of the log rebuilds it too.
    solicited = models.BooleanField(default=False, db_default=False)
    at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(value__in=(1, 0, -1)), name="voteevent_value_valid")]


class RateAssignment(models.Model):
    """A post Merit picked for a voter to rate next ("Rate next"; votes.rate_next).

    Open while `used_at` is null and younger than rate_next.ASSIGNMENT_TTL. A vote cast on the post while
    its assignment is open is solicited and closes it, in the vote's transaction. The voter never chooses
    these posts, so solicited votes are a sample an attacker cannot aim.
    """

    # No single-column index on user: the open-assignment constraint leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rate_assignments", db_index=False
    )
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    issued_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "user", "post", condition=Q(used_at__isnull=True), name="rateassignment_one_open_per_user_post"
            ),
            models.CheckConstraint(
                condition=Q(used_at__isnull=True) | Q(used_at__gte=models.F("issued_at")),
                name="rateassignment_used_after_issued",
            ),
        ]

    def __str__(self) -> str:
        return f"post {self.post_id} for user {self.user_id}"


class PreviewStatus(models.TextChoices):
    PENDING = "pending", "Not fetched yet"
    OK = "ok", "Fetched"
    DELETED = "deleted", "Deleted"
    PRIVATE = "private", "Private"
    FAILED = "failed", "Fetch failed"
    FROM_EXTENSION = "from_extension", "Text as seen by a voter"


class PostPreview(models.Model):
    """What the post says, fetched from the platform's public endpoint (votes.previews).

    Plain text only: platform HTML is reduced to text before it is stored, and templates escape it.
    Text sent by the extension (status from_extension) stands in until a fetch succeeds; a successful fetch
    always replaces it. A failed fetch is retried at next_attempt_at (backoff doubling, capped).
    """

    post = models.OneToOneField(Post, on_delete=models.CASCADE, primary_key=True, related_name="preview")
    status = models.CharField(max_length=16, choices=PreviewStatus.choices, default=PreviewStatus.PENDING)
    text = models.TextField(blank=True, default="")
    author_name = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(null=True, blank=True, help_text="When the post was published.")
    image_url = models.URLField(max_length=1000, blank=True, default="")
    fetched_at = models.DateTimeField(null=True, blank=True, help_text="Last answer from the platform.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Failed fetches in a row.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=PreviewStatus.values), name="postpreview_status_valid"),
            # Fetched means the platform answered: a time is known.
            models.CheckConstraint(
                condition=~Q(status__in=["ok", "deleted", "private"]) | Q(fetched_at__isnull=False),
                name="postpreview_answered_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"preview of post {self.post_id} ({self.status})"


class ClaimStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the proof post"
    VERIFIED = "verified", "Verified"
    SUPERSEDED = "superseded", "Replaced by a newer proof"
    EXPIRED = "expired", "Expired"


class HandleClaim(models.Model):
    """A person's claim that a handle is theirs, proved by posting a one-time code from it (votes.claims).

    A pending claim gives no standing and blocks nobody else: several people may hold one for the same
    handle. Only a verified claim sets Author.owner (in the same transaction), and at most one claim per
    author is verified at a time; a newer proof from the same account supersedes it.
    """

    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="claims")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="handle_claims")
    code = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=12, choices=ClaimStatus.choices, default=ClaimStatus.PENDING)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(help_text="A pending claim not proved by then lapses.")
    verified_at = models.DateTimeField(null=True, blank=True)
    proof_url = models.URLField(max_length=500, blank=True, default="")
    # When the proof post was published, as the platform says: a transfer needs a newer proof.
    proof_posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "author", condition=Q(status="verified"), name="handleclaim_one_verified_per_author"
            ),
            models.UniqueConstraint(
                "author", "user", condition=Q(status="pending"), name="handleclaim_one_pending_per_user"
            ),
            models.CheckConstraint(condition=Q(status__in=ClaimStatus.values), name="handleclaim_status_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["verified", "superseded"], verified_at__isnull=False, proof_posted_at__isnull=False)
                | (~Q(status__in=["verified", "superseded"]) & Q(verified_at__isnull=True)),
                name="handleclaim_verified_has_proof",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="handleclaim_expires_later"),
        ]
        indexes = [models.Index(fields=["user", "status"], name="handleclaim_user_status")]

    def __str__(self) -> str:
        return f"{self.user_id} claims author {self.author_id} ({self.status})"
