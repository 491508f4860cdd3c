"""Voting actions. Views, the API, commands and tasks all go through these functions."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, TypedDict, cast

from django.contrib.auth.models import User  # settings.AUTH_USER_MODEL
from django.db import connection, models, transaction
from django.utils import timezone

from reputation.services import refresh_enqueue, refresh_request

from . import previews, rate_next
from .models import Author, HandleClaim, Post, RateAssignment, Reason, Vote, VoteEvent
from .platforms import (
    PostURLError,
    get_platform,
    may_be_same_author,
    normalize_handle,
    parse_post_url,
    validate_post_id,
)
from .signals import announce_authors_changed

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class _Cast(TypedDict):
        newly_created: bool  # this call inserted the vote

    CastVote = WithAnnotations[Vote, _Cast]


class VoteError(Exception):
    """A refused action; the message tells the person what to do."""

    code = "invalid"


class InvalidInput(VoteError):
    code = "invalid"


class AuthorConflict(VoteError):
    code = "author-conflict"


class SelfVote(VoteError):
    code = "self-vote"


def _insert(
    model: type[models.Model], *, if_absent: bool = False, unless: tuple[str, list] | None = None, **values
) -> int | None:
    """One INSERT ... RETURNING id, built once from the model's fields: the voting path's writes.

    With if_absent, ON CONFLICT DO NOTHING: None when a unique constraint says the row exists. A plain
    INSERT that hits the constraint would abort the transaction unless wrapped in a savepoint, which costs
    two more round trips; the ORM's own INSERT costs more CPU than the round trip itself. With
    unless=(query, params), nothing is inserted (None) when that query finds a row, checked in the same
    statement.
    """
    row = _insert_row(model, if_absent=if_absent, unless=unless, **values)
    return row[0] if row else None


def _insert_row(
    model: type[models.Model], *, if_absent: bool = False, unless: tuple[str, list] | None = None,
    computed: tuple[str, str, list] | None = None, **values,
) -> tuple | None:
    """`_insert`, returning (id, computed value): with computed=(field, expression, params), that field
    takes the SQL expression's value, evaluated in the same statement."""
    sql, fields = _insert_statement(
        model, tuple(values), if_absent, unless[0] if unless else None, computed[:2] if computed else None
    )
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values.values(), strict=True)]
    with connection.cursor() as cur:
        cur.execute(sql, params + (computed[2] if computed else []) + (unless[1] if unless else []))
        return cur.fetchone()


def _column_field(model: type[models.Model], name: str) -> models.Field:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field), f"{model.__name__}.{name} is not a column"
    return field


def _quoted_column(field: models.Field | None) -> str:
    assert field is not None and field.column is not None  # both set on an installed model's fields
    return connection.ops.quote_name(field.column)


@functools.cache
def _insert_statement(
    model: type[models.Model], names: tuple[str, ...], if_absent: bool, unless: str | None,
    computed: tuple[str, str] | None = None,
) -> tuple[str, list]:
    quote = connection.ops.quote_name
    fields = [_column_field(model, name) for name in names]
    columns = [_quoted_column(f) for f in fields]
    placeholders = ["%s"] * len(fields)
    returning = [_quoted_column(model._meta.pk)]
    if computed:
        column = _quoted_column(_column_field(model, computed[0]))
        columns.append(column)
        placeholders.append(f"({computed[1]})")
        returning.append(column)
    values = ", ".join(placeholders)
    source = f"SELECT {values} WHERE NOT EXISTS ({unless})" if unless else f"VALUES ({values})"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) {source} "
        f"{'ON CONFLICT DO NOTHING ' if if_absent else ''}RETURNING {', '.join(returning)}"
    )
    return sql, fields


# The two lookups every vote makes, as plain SQL turned into models with from_db: building the ORM's
# queries (select_related, the Lower() alias) cost 0.7-1.2 ms of CPU each, several times their round
# trip, and a raw queryset's column mapping another 0.1 ms (measured).
# first_seen stays deferred (loaded if ever read): plain SQL skips the backend's type conversion, and
# SQLite hands datetimes back as text. Columns in model field order, as from_db expects.
_AUTHOR_COLUMNS = ["id", "platform", "handle", "follower_count", "owner_id"]
_POST_COLUMNS = ["id", "platform", "external_id", "author_id", "url"]
_AUTHOR_BY_HANDLE = (
    f"SELECT {', '.join(_AUTHOR_COLUMNS)} FROM {Author._meta.db_table} WHERE platform = %s AND lower(handle) = lower(%s)"
)
_POST_WITH_AUTHOR = (
    f"SELECT {', '.join('p.' + c for c in _POST_COLUMNS)}, {', '.join('a.' + c for c in _AUTHOR_COLUMNS)} "
    f"FROM {Post._meta.db_table} p JOIN {Author._meta.db_table} a ON a.id = p.author_id "
    f"WHERE p.platform = %s AND p.external_id = %s"
)


def _fetch_one(sql: str, params: list) -> tuple | None:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def _author_by_handle(platform: str, handle: str) -> Author | None:
    row = _fetch_one(_AUTHOR_BY_HANDLE, [platform, handle])
    return None if row is None else Author.from_db(connection.alias, _AUTHOR_COLUMNS, row)


def _post_by_id(platform: str, post_id: str) -> Post | None:
    """The post with its author attached (one query)."""
    row = _fetch_one(_POST_WITH_AUTHOR, [platform, post_id])
    if row is None:
        return None
    post = Post.from_db(connection.alias, _POST_COLUMNS, row[: len(_POST_COLUMNS)])
    post.author = Author.from_db(connection.alias, _AUTHOR_COLUMNS, row[len(_POST_COLUMNS) :])
    return post


def author_get_or_create(*, platform: str, handle: str) -> Author:
    handle = normalize_handle(platform, handle)
    author = _author_by_handle(platform, handle)
    if author is not None:
        return author
    now = timezone.now()
    pk = _insert(Author, if_absent=True, platform=platform, handle=handle, first_seen=now)
    if pk is None:  # created concurrently
        author = _author_by_handle(platform, handle)
        if author is None:  # inserted and then deleted by others in between
            raise VoteError("Your vote collided with another request; please try again.")
        return author
    announce_authors_changed([pk])  # readers may hold "no such author"
    return Author(pk=pk, platform=platform, handle=handle, first_seen=now)


def post_register(
    *, url: str | None = None, platform: str | None = None, post_id: str | None = None, handle: str | None = None
) -> Post:
    """Find or create the post a URL (or platform + post id + handle) names.

    A claim that an existing post belongs to another author is refused, never re-attributed. (A Bluesky
    link may name the author by DID where the post is known by handle, or the other way round: no conflict.)
    """
    try:
        if url:
            ref = parse_post_url(url)
            platform, handle, post_id, canonical = ref.platform, ref.handle, ref.post_id, ref.url
        else:
            spec = get_platform(platform or "")
            platform = spec.code
            handle = normalize_handle(spec.code, handle or "")
            post_id = validate_post_id(spec.code, post_id or "")
            canonical = spec.canonical_url(handle, post_id)
    except PostURLError as exc:
        raise InvalidInput(str(exc)) from None

    post = _post_by_id(platform, post_id)
    if post is None:
        author = author_get_or_create(platform=platform, handle=handle)
        now = timezone.now()
        pk = _insert(
            Post, if_absent=True, platform=platform, external_id=post_id, author=author.pk, url=canonical, first_seen=now
        )
        if pk is None:  # registered concurrently; fall through to the ownership check
            post = Post.objects.select_related("author").get(platform=platform, external_id=post_id)
        else:
            post = Post(pk=pk, platform=platform, external_id=post_id, author=author, url=canonical, first_seen=now)
            previews.preview_request(post_id=pk)  # its text, fetched from the platform after commit
    if not may_be_same_author(post.author.handle, handle):  # else the post keeps the author it has
        raise AuthorConflict(
            f"Post {post_id} is already registered as a post by @{post.author.handle}, not @{handle}. "
            "Check that you copied the right link."
        )
    return post


# Ownership is asked of the database, not of post.author, which the caller may have loaded before a link:
# the verified owner, or the voter's own claim still waiting for its proof (votes.claims). Others' pending
# claims block nobody.
_OWNED_BY = (
    f"SELECT 1 FROM {Author._meta.db_table} WHERE id = %s AND owner_id = %s UNION ALL "
    f"SELECT 1 FROM {HandleClaim._meta.db_table} WHERE author_id = %s AND user_id = %s AND status = 'pending' "
    "AND expires_at > %s"
)


def _owned_by_params(author_id: int, user_id: int, now) -> list:
    return [author_id, user_id, author_id, user_id, _db_time(now)]


def _owns(user_id: int, author_id: int) -> bool:
    return _fetch_one(_OWNED_BY, _owned_by_params(author_id, user_id, timezone.now())) is not None


def _validate_vote(voter: User, post: Post, value: int, reason: str) -> None:
    if value not in (Vote.UP, Vote.DOWN):
        raise InvalidInput(f"A vote is 1 (good post) or -1 (poor post), not {value!r}.")
    if reason and reason not in Reason.values:
        raise InvalidInput(f"Unknown reason '{reason}'. Use one of: {', '.join(Reason.values)}.")
    if reason and value != Vote.DOWN:
        raise InvalidInput("A reason can only be given with a downvote.")


def vote_cast(*, voter: User, post: Post, value: int, reason: str = "", source: str = "web") -> CastVote:
    """Cast or change the voter's vote on a post, then schedule the author's refresh after commit.

    The vote's `newly_created` says whether this call inserted it (not another request, however close in time).
    """
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"A vote is 1 (good post) or -1 (poor post), not {value!r}.") from None
    reason = reason or ""
    _validate_vote(voter, post, value, reason)
    now = timezone.now()
    # No savepoint inside a caller's transaction (the API registers the post in the same one): an error
    # here aborts the whole request anyway, and a savepoint costs two round trips.
    with transaction.atomic(savepoint=False):
        vote, created = _lock_or_create(voter, post, value, reason, now)
        if vote is not None and _record(vote, created, value=value, reason=reason, source=source, at=now):
            _schedule_refresh(post.author_id)
    if vote is None:  # raised here, not inside the block, so a caller's own transaction stays usable
        raise SelfVote(
            f"You linked @{post.author.handle} to your account (a verified claim, or yours waiting for its proof), "
            "so you cannot vote on its posts."
        )
    cast_vote = cast("CastVote", vote)
    cast_vote.newly_created = created
    return cast_vote


def _record(vote: Vote, created: bool, *, value: int, reason: str, source: str, at) -> bool:
    """Log a new vote, or change and log an existing one; False when it already was this vote (a double click)."""
    if created:
        _log(vote, VoteEvent.Action.CAST, previous=0, source=source, at=at)
        return True
    if vote.value == value and vote.reason == reason:
        return False
    previous = vote.value
    vote.value, vote.reason, vote.updated_at = value, reason, at
    vote.save(update_fields=["value", "reason", "updated_at"])
    _log(vote, VoteEvent.Action.CHANGED, previous=previous, source=source, at=at)
    return True


def _lock_or_create(voter, post: Post, value: int, reason: str, now) -> tuple[Vote | None, bool]:
    # (None, False) when the voter owns the post's author. The insert itself refuses such a vote (one round
    # trip fewer on every vote); when nothing was inserted, we ask which of the two it was. Another request
    # may insert (or retract) the same vote between our insert and our read; the unique constraint tells
    # us, and we look again.
    # A new vote is solicited when an open "Rate next" assignment covers it (asked in the same statement;
    # a client has no say) and then closes that assignment, in this transaction: one more round trip,
    # on solicited votes only.
    solicited = ("solicited", rate_next.OPEN_ASSIGNMENT_SQL, [voter.pk, post.pk, _db_time(rate_next.open_since(now))])
    for _ in range(5):
        row = _insert_row(
            Vote, if_absent=True, unless=(_OWNED_BY, _owned_by_params(post.author_id, voter.pk, now)), computed=solicited,
            voter=voter.pk, post=post.pk, author=post.author_id, value=value, reason=reason,
            created_at=now, updated_at=now,
        )
        if row is not None:
            pk, was_solicited = row[0], bool(row[1])
            if was_solicited:
                rate_next.assignment_close(user_id=voter.pk, post_id=post.pk, at=now)
            return Vote(
                pk=pk, voter_id=voter.pk, post=post, author_id=post.author_id, value=value, reason=reason,
                created_at=now, updated_at=now, solicited=was_solicited,
            ), True
        if _owns(voter.pk, post.author_id):
            return None, False
        vote = Vote.objects.select_for_update().filter(voter=voter, post=post).first()
        if vote is not None:
            return vote, False
    raise VoteError("Your vote collided with another request; please try again.")


def vote_retract(*, voter: User, post: Post, source: str = "web") -> bool:
    """Remove the voter's vote on a post; returns False if there was none."""
    now = timezone.now()
    with transaction.atomic():
        vote = Vote.objects.select_for_update().filter(voter=voter, post=post).first()
        if vote is None:
            return False
        _log(vote, VoteEvent.Action.RETRACTED, previous=vote.value, source=source, at=now, value=0)
        vote.delete()
        _schedule_refresh(post.author_id)
    return True


def _log(vote: Vote, action: str, *, previous: int, source: str, at, value: int | None = None) -> None:
    _insert(
        VoteEvent, voter=vote.voter_id, post=vote.post_id, action=action,
        value=vote.value if value is None else value, previous_value=previous,
        reason=vote.reason, source=source, solicited=vote.solicited, at=at,
    )


def _db_time(value):
    return RateAssignment._meta.get_field("issued_at").get_db_prep_value(value, connection)


def _schedule_refresh(author_id: int) -> None:
    if refresh_request(author_id=author_id):
        transaction.on_commit(lambda: refresh_enqueue(author_id), robust=True)


def author_link(*, user: User, platform: str, handle: str) -> Author:
    """Record a handle as the user's verified own without a proof post (administrators and tests vouch for
    it; people prove it through votes.claims). From then on they cannot vote on its posts."""
    from . import claims

    try:
        author = author_get_or_create(platform=platform, handle=handle)
    except PostURLError as exc:
        raise InvalidInput(str(exc)) from None
    try:
        claims.claim_grant(user=user, author=author)
    except claims.ClaimError as exc:
        raise AuthorConflict(str(exc)) from None
    author.refresh_from_db()
    return author
