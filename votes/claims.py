"""Handle ownership, proved: "This is me" starts a claim with a one-time code, a post carrying the code from
that account verifies it.

Why a proof: an owner cannot vote on their own posts, and the engine treats an owner's account as part of the
author (reputation.data loads Author.owner). An unproved claim must therefore change nothing for anyone else:
a pending claim blocks only its own holder's votes on the handle (so nobody votes on themselves while proving),
gives no standing, lapses after CLAIM_PROOF_DAYS, and any number of people may hold one for the same handle.
Only a verified claim sets Author.owner, in the same transaction, and at most one per author is verified
(a partial unique constraint). Control of the account is what proves ownership, so a verified claim moves to
another Merit account only on a proof posted later than the one that verified it.

Proof posts are read through the preview fetchers (votes.previews), exactly as previews are.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_ratelimit.core import get_usage

from config.ops.metrics import THROTTLED

from . import previews
from .models import Author, ClaimStatus, HandleClaim, PreviewStatus
from .platforms import PostURLError, get_platform, parse_post_url
from .signals import announce_authors_changed

CODE_PREFIX = "merit-"
# Lower-case letters and digits without look-alikes (0/o, 1/l/i): people copy the code by hand at times.
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 8  # 31^8 ≈ 8.5e11: not guessable within a claim's life
MAX_PENDING_PER_USER = 10


class ClaimError(Exception):
    """A refused claim step; the message tells the person what to do."""


def new_code() -> str:
    return CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def open_claims(user_id: int):
    """The user's pending claims that have not lapsed."""
    return HandleClaim.objects.filter(user_id=user_id, status=ClaimStatus.PENDING, expires_at__gt=timezone.now())


def claim_pending(*, user, author: Author) -> HandleClaim | None:
    if not user.is_authenticated:
        return None
    return open_claims(user.pk).filter(author=author).first()


def verified_claim(author: Author) -> HandleClaim | None:
    return HandleClaim.objects.filter(author=author, status=ClaimStatus.VERIFIED).first()


def claim_start(*, user, author: Author) -> HandleClaim:
    """Start (or show again) the user's claim on this handle: the code they must post from it."""
    if Author.objects.filter(pk=author.pk, owner=user).exists():  # asked of the database, not a stale object
        raise ClaimError(f"@{author.handle} is already verified as yours.")
    now = timezone.now()
    with transaction.atomic():
        existing = HandleClaim.objects.select_for_update().filter(
            author=author, user=user, status=ClaimStatus.PENDING
        ).first()
        if existing is not None and existing.expires_at > now:
            return existing
        if existing is not None:  # lapsed: a fresh code, so an old one seen by others cannot be reused
            existing.status = ClaimStatus.EXPIRED
            existing.save(update_fields=["status"])
        if open_claims(user.pk).count() >= MAX_PENDING_PER_USER:
            raise ClaimError(f"You have {MAX_PENDING_PER_USER} claims waiting for their proof; finish or let one lapse first.")
        try:
            with transaction.atomic():  # a savepoint: a concurrent start (a double click) may win the insert
                return HandleClaim.objects.create(
                    author=author, user=user, code=new_code(), created_at=now,
                    expires_at=now + timedelta(days=settings.CLAIM_PROOF_DAYS),
                )
        except IntegrityError:  # one pending claim per user and author: show the one that won
            return HandleClaim.objects.get(author=author, user=user, status=ClaimStatus.PENDING)


def _same_account(author: Author, fetched: previews.Fetched) -> bool:
    claimed = author.handle.lower()
    return claimed in {fetched.author_handle.lower(), fetched.author_id.lower()} - {""}


def claim_verify(*, user, author: Author, proof_url: str) -> HandleClaim:
    """Check the proof post and, if it holds, make the user this handle's verified owner."""
    claim = claim_pending(user=user, author=author)
    if claim is None:
        raise ClaimError(f"You have no open claim on @{author.handle}: press “This is me” to get a code first.")
    label = get_platform(author.platform).label
    try:
        ref = parse_post_url(proof_url)
    except PostURLError as exc:
        raise ClaimError(str(exc)) from None
    if ref.platform != author.platform:
        raise ClaimError(f"The proof must be a post on {label}, from @{author.handle}.")
    try:
        fetched = previews.fetch(ref.platform, ref.url)
    except previews.FetchFailed:
        raise ClaimError(f"{label} did not answer just now; try again in a minute.") from None
    except previews.NotFetchable as exc:
        raise ClaimError(f"Merit cannot read that post: {exc}") from None
    if fetched.status != PreviewStatus.OK:
        raise ClaimError(f"That post is deleted or private on {label}; post the code publicly and paste its link.")
    if not _same_account(author, fetched):
        posted_by = f"@{fetched.author_handle}" if fetched.author_handle else "another account"
        raise ClaimError(f"That post is by {posted_by}, not @{author.handle}. Post the code from @{author.handle}.")
    if claim.code.lower() not in fetched.text.lower():
        raise ClaimError(f"That post does not contain your code {claim.code}. Post the code exactly as shown.")
    return _record_proof(claim, ref.url, fetched.published_at or timezone.now())


def _record_proof(claim: HandleClaim, proof_url: str, posted_at) -> HandleClaim:
    now = timezone.now()
    with transaction.atomic():
        author = Author.objects.select_for_update().get(pk=claim.author_id)
        claim = HandleClaim.objects.select_for_update().get(pk=claim.pk)
        if claim.status == ClaimStatus.VERIFIED:  # the same proof, sent twice at once: the first one counted
            return claim
        if claim.status != ClaimStatus.PENDING:
            raise ClaimError("This claim lapsed; press “This is me” again for a new code.")
        current = HandleClaim.objects.select_for_update().filter(author=author, status=ClaimStatus.VERIFIED).first()
        if current is not None:
            if posted_at <= current.proof_posted_at:
                raise ClaimError(
                    f"@{author.handle} was verified by a proof posted after this one. Post your code again "
                    "from the account and paste the new post’s link."
                )
            current.status = ClaimStatus.SUPERSEDED  # first: one verified claim per author, at every instant
            current.save(update_fields=["status"])
        claim.status, claim.verified_at = ClaimStatus.VERIFIED, now
        claim.proof_url, claim.proof_posted_at = proof_url, posted_at
        claim.save(update_fields=["status", "verified_at", "proof_url", "proof_posted_at"])
        Author.objects.filter(pk=author.pk).update(owner=claim.user_id, owner_verified_at=now)
        _owner_changed(author.pk)
    return claim


def claim_grant(*, user, author: Author) -> HandleClaim:
    """Record the user as the handle's verified owner without a proof post: for administrators and tests,
    who vouch for it themselves. Refused when another account already owns it."""
    now = timezone.now()
    with transaction.atomic():
        locked = Author.objects.select_for_update().get(pk=author.pk)
        if locked.owner_id is not None and locked.owner_id != user.pk:
            raise ClaimError(f"@{locked.handle} is already linked to another account.")
        current = HandleClaim.objects.filter(author=locked, status=ClaimStatus.VERIFIED).first()
        if current is not None:
            return current
        HandleClaim.objects.filter(author=locked, user=user, status=ClaimStatus.PENDING).update(status=ClaimStatus.EXPIRED)
        claim = HandleClaim.objects.create(
            author=locked, user=user, code=new_code(), status=ClaimStatus.VERIFIED, created_at=now,
            expires_at=now + timedelta(days=settings.CLAIM_PROOF_DAYS), verified_at=now, proof_posted_at=now,
        )
        Author.objects.filter(pk=locked.pk).update(owner=user, owner_verified_at=now)
        _owner_changed(locked.pk)
    return claim


def _owner_changed(author_id: int) -> None:
    # The engine reads the owner (its account joins the author's own group): refresh, and drop cached cards.
    # Imported here, not at module level: api's ready() imports this module (api.services -> votes.selectors),
    # and reputation.services brings the refit and scipy.sparse (0.2 s of every process's start-up, a
    # management command's included) for the rare verified claim.
    from reputation.services import refresh_enqueue, refresh_request

    if refresh_request(author_id=author_id):
        transaction.on_commit(lambda: refresh_enqueue(author_id), robust=True)
    announce_authors_changed([author_id])


def verify_wait(request) -> int:
    """Count one proof attempt by this user; the seconds to wait if over CLAIM_VERIFY_RATE, else 0.

    Each attempt makes Merit fetch a post (on Mastodon, from an instance the link names): bounded per account.
    """
    usage = get_usage(request, group="claim:verify", key=lambda group, r: str(r.user.pk),
                      rate=settings.CLAIM_VERIFY_RATE, method="POST", increment=True)
    if not usage or not usage["should_limit"]:
        return 0
    THROTTLED.labels("claim_verify").inc()
    return max(1, usage["time_left"])


def claims_expire() -> int:
    """Mark lapsed pending claims expired (they already count for nothing; this keeps the table honest)."""
    return HandleClaim.objects.filter(status=ClaimStatus.PENDING, expires_at__lte=timezone.now()).update(
        status=ClaimStatus.EXPIRED
    )
