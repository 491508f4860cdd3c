"""Read queries over derived state that the web pages show: is a refresh queued, what a voter's vote weighs."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from votes.models import Vote

from .engine.merit import MeritEngine
from .models import PendingRefresh, VoterCredibility


def refresh_pending(*, author_id: int) -> bool:
    """A vote on this author is waiting for the worker (its outbox row is there until the refresh commits)."""
    return PendingRefresh.objects.filter(author_id=author_id).exists()


@dataclass(frozen=True)
class VoterWeight:
    credibility: float | None  # 0-1, from the last full refit; None before the voter's first one
    record: float | None  # 0-1: how much of a full record of early calls the voter has earned
    new_voter_weight: float  # what a vote weighs before the first refit that sees the voter
    account_days: int
    full_record_days: int  # account age at which a record counts (almost) fully
    votes: int
    early_votes: int  # cast while fewer than `early_before` votes were on the post
    solicited_votes: int
    early_before: int


def voter_weight(*, user) -> VoterWeight:
    """What the engine (reputation/engine/merit.py) makes of this voter, and the facts that raise it."""
    stored = VoterCredibility.objects.filter(voter=user).first()
    engine = MeritEngine()
    earlier = (
        Vote.objects.filter(post=OuterRef("post"), created_at__lt=OuterRef("created_at"))
        .order_by().values("post").annotate(n=Count("pk")).values("n")[:1]
    )
    mine = Vote.objects.filter(voter=user).annotate(seen=Coalesce(Subquery(earlier), 0))
    counts = mine.aggregate(
        votes=Count("pk"),
        early=Count("pk", filter=Q(seen__lt=engine.valid_visible)),
        solicited=Count("pk", filter=Q(solicited=True)),
    )
    proven = (stored.flags or {}).get("proven") if stored else None
    return VoterWeight(
        credibility=stored.credibility if stored else None,
        record=float(proven) if isinstance(proven, (int, float)) else None,
        new_voter_weight=engine.new_voter_credibility(),
        account_days=max((timezone.now() - user.date_joined).days, 0),
        full_record_days=int(engine.proven_age_days * 3),  # the ramp is 1 - exp(-age / 30 days): 95% at 90
        votes=counts["votes"],
        early_votes=counts["early"],
        solicited_votes=counts["solicited"],
        early_before=engine.valid_visible,
    )

