"""Derived state: everything here can be rebuilt from the votes table."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Status(models.TextChoices):
    INSUFFICIENT = "insufficient_data", "Not enough votes yet"
    PROVISIONAL = "provisional", "Provisional"
    ESTABLISHED = "established", "Established"
    UNDER_REVIEW = "under_review", "Under review"
    # Many votes from accounts without a record on this author: the score moves only as far as
    # the unproven pool allows, and only as proven voters weigh in.
    CONTESTED = "contested", "Contested: many votes from accounts new to Merit's record"


class AuthorReputation(models.Model):
    author = models.OneToOneField("votes.Author", primary_key=True, on_delete=models.CASCADE, related_name="reputation")
    # 0-100; `score` is what rankings use; [low, high] is the 90% interval.
    score = models.FloatField(default=50.0, db_index=True)
    low = models.FloatField(default=0.0)
    high = models.FloatField(default=100.0)
    # Incrementally maintained counters (F() deltas in the vote transaction).
    upvotes = models.IntegerField(default=0)
    downvotes = models.IntegerField(default=0)
    voters = models.IntegerField(default=0)
    # Engine outputs.
    effective_voters = models.FloatField(default=0.0)
    weight_up = models.FloatField(default=0.0)
    weight_down = models.FloatField(default=0.0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.INSUFFICIENT)
    percentile = models.FloatField(null=True, blank=True)
    explanation = models.JSONField(default=dict, blank=True)
    algorithm = models.CharField(max_length=32, default="")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(upvotes__gte=0) & Q(downvotes__gte=0), name="rep_counts_nonneg"),
            models.CheckConstraint(condition=Q(low__lte=models.F("high")), name="rep_interval_ordered"),
        ]

    @property
    def votes(self) -> int:
        return self.upvotes + self.downvotes


class VoterCredibility(models.Model):
    voter = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="credibility")
    credibility = models.FloatField()
    flags = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(credibility__gte=0) & Q(credibility__lte=1), name="credibility_in_unit")
        ]


class ReputationSnapshot(models.Model):
    author = models.ForeignKey("votes.Author", on_delete=models.CASCADE, related_name="snapshots")
    day = models.DateField()
    score = models.FloatField()
    low = models.FloatField()
    high = models.FloatField()
    votes = models.IntegerField()
    # Vote weight the refit set aside as coordinated (null on rows written before it was recorded);
    # a jump from one day to the next is a correction, and `note` says so.
    coordinated = models.FloatField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint("author", "day", name="snapshot_one_per_author_day")]
        ordering = ["day"]


class PendingRefresh(models.Model):
    """Outbox: an author whose reputation must be refreshed.

    Written in the vote's own transaction, so a lost task or a dead broker only
    delays a refresh. The refresh deletes the row only if `version` did not move
    while it computed; the periodic sweep re-queues rows left behind.
    """

    author = models.OneToOneField("votes.Author", primary_key=True, on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField(default=1)
    marked_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)


class PostScore(models.Model):
    """Credibility-weighted quality of one post (0-100), rebuilt with its author's reputation."""

    post = models.OneToOneField("votes.Post", primary_key=True, on_delete=models.CASCADE, related_name="score")
    quality = models.FloatField(default=50.0)
    upvotes = models.IntegerField(default=0)
    downvotes = models.IntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)


class RefitState(models.Model):
    """What the last full refit leaves for the per-author refresh (derived; the refit keeps one row).

    Its `np.savez` payload (in `RefitStatePart`s), read once per refit by each refreshing process, grows
    with authors, not with votes or voters: the ranked authors' ids and scores (the refresh ranks an
    author by a bisect instead of counting the whole table), the links inside detected groups and the
    world's post dispersion. What the refit knew of each voter is in the tables (VoterCredibility), and
    for heavily voted authors also packed per author (`AuthorVoterState`).
    """

    token = models.UUIDField(default=uuid.uuid4, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)


class RefitStatePart(models.Model):
    """One piece of a RefitState's `np.savez` payload, in order: PostgreSQL holds at most 1 GB in one
    value, and at 100M votes (5M voters) the payload is over that."""

    state = models.ForeignKey(RefitState, on_delete=models.CASCADE, related_name="parts")
    part = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["state", "part"], name="refit_state_part_once")]


class AuthorVoterState(models.Model):
    """The last refit's rows for one heavily voted author's voters, packed: the refresh reads them in one value.

    A refresh needs each voter's join time and stored credibility, group, side, record and change time.
    For most authors it asks the tables (one index probe per voter); for the heaviest ones those probes
    alone took 90-145 ms (17,000 voters spread over 5M, measured), so the refit packs these authors'
    voter rows here (`data.VOTER_ROW` records, sorted by voter id) and the refresh asks the tables only
    for voters the refit did not see. Replaced with its RefitState.
    """

    state = models.ForeignKey(RefitState, on_delete=models.CASCADE, related_name="authors")
    # Not a foreign key: a derived copy, replaced whole by every refit; an author deleted meanwhile
    # must not fail the refit that wrote it.
    author_id = models.BigIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["state", "author_id"], name="author_voter_state_once")]


class AuthorUnderReview(AuthorReputation):
    """Admin only (a proxy): authors whose score is held back, under review or contested."""

    class Meta:
        proxy = True
        verbose_name = "author under review"
        verbose_name_plural = "authors under review"


class DetectedGroup(VoterCredibility):
    """Admin only (a proxy): the co-voting groups the last refit detected, from VoterCredibility.flags."""

    class Meta:
        proxy = True
        verbose_name = "detected group"
        verbose_name_plural = "detected groups"


class AuthorChange(models.Model):
    """The change feed (GET /api/v1/authors/changes): each scored author at the number of its last change.

    `seq` comes from ChangeSequence in the writing transaction, whose row lock is held to commit, so
    numbers become visible in order: a reader that has seen n will never later find a change below n.
    An author changed again moves to a new, higher number. `fingerprint` is the public figures as last
    announced (reputation.changes.FINGERPRINT_SQL); a rewrite that leaves them alone is no change.
    """

    author = models.OneToOneField("votes.Author", primary_key=True, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField(unique=True)
    changed_at = models.DateTimeField()
    fingerprint = models.CharField(max_length=200)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(seq__gt=0), name="authorchange_seq_positive")]


class ChangeSequence(models.Model):
    """One row: the last number AuthorChange handed out (its lock orders the feed's writers)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="changesequence_single_row")]


class LeaderboardRanking(models.Model):
    """The leaderboard's order as one refit left it; the API pages through one ranking by position, so a
    cursor keeps its place while later refits rewrite every score (reputation.leaderboard)."""

    created_at = models.DateTimeField(auto_now_add=True)


class LeaderboardEntry(models.Model):
    ranking = models.ForeignKey(LeaderboardRanking, on_delete=models.CASCADE, related_name="entries")
    platform = models.CharField(max_length=16)
    rank = models.PositiveIntegerField()  # 1 = top, per platform
    author = models.ForeignKey("votes.Author", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint("ranking", "platform", "rank", name="leaderboardentry_one_per_rank"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="leaderboardentry_rank_positive"),
        ]
