"""Portable loader for `import_votes` (used on SQLite): chunked queries and bulk inserts.

Same semantics as the PostgreSQL loader, done in Python; correct rather than
fast. Runs inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.hashers import make_password
from django.db import connection
from tqdm import tqdm

from reputation.services import refresh_request
from votes.models import Author, Post, Vote, VoteEvent
from votes.platforms import get_platform
from votes.signals import announce_authors_changed

from .vote_import import CHUNK, ImportRejected, RowError, Staged, Summary, User, timed


def load_generic(staged: Staged, summary: Summary, show_progress: bool, stage) -> None:
    with timed(summary, "read", stage):
        latest = _latest_rows(staged)
        summary.duplicate_rows = staged.rows - len(latest)
    with timed(summary, "users", stage):
        user_ids = _users(staged, summary)
    with timed(summary, "authors", stage):
        author_ids = _authors(staged, summary)
    with timed(summary, "posts", stage):
        posts = _posts(staged, summary, author_ids)
    with timed(summary, "votes", stage):
        applied = _votes(latest, user_ids, posts, summary, show_progress)
    with timed(summary, "events", stage):
        VoteEvent.objects.bulk_create(
            [
                VoteEvent(voter_id=v, post_id=p, action=action, value=value,
                          previous_value=0 if action == "cast" else -value, source="import", solicited=solicited, at=at)
                for v, p, _, value, at, action, solicited in applied
            ],
            batch_size=CHUNK,
        )
    with timed(summary, "outbox", stage):
        touched = {a for _, _, a, *_ in applied}
        for author_id in touched:
            refresh_request(author_id=author_id)
        summary.authors_marked = len(touched)


def _latest_rows(staged: Staged) -> dict[tuple[str, str, str], tuple[datetime, int, int, bool]]:
    """(voter, platform, post id) -> (created_at, line, value, solicited) of the latest row for that pair."""
    latest: dict[tuple[str, str, str], tuple[datetime, int, int, bool]] = {}
    staged.votes.seek(0)
    for record in staged.votes:
        line, voter, platform, post_id, value, created, solicited = record.rstrip("\n").split("\t")
        row = (datetime.fromisoformat(created), int(line), int(value), solicited == "1")
        key = (voter, platform, post_id)
        if key not in latest or row[:2] > latest[key][:2]:
            latest[key] = row
    return latest


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _users(staged: Staged, summary: Summary) -> dict[str, int]:
    names = list(staged.users)
    ids: dict[str, int] = {}
    for chunk in _chunks(names):
        ids.update(User.objects.filter(username__in=chunk).values_list("username", "id"))
    new = [User(username=n, password=make_password(None), date_joined=staged.users[n]) for n in names if n not in ids]
    User.objects.bulk_create(new, batch_size=CHUNK)
    summary.users_new = len(new)
    for chunk in _chunks([u.username for u in new]):
        ids.update(User.objects.filter(username__in=chunk).values_list("username", "id"))
    return ids


def _authors(staged: Staged, summary: Summary) -> dict[tuple[str, str], int]:
    """(platform, lower(handle)) -> author id, creating missing authors (first spelling wins)."""
    wanted: dict[tuple[str, str], tuple[str, datetime]] = {}
    for (platform, _), seen in staged.posts.items():
        key = (platform, seen.handle.lower())
        if key not in wanted or seen.first_seen < wanted[key][1]:
            wanted[key] = (wanted[key][0] if key in wanted else seen.handle, seen.first_seen)
    ids = _existing_authors(wanted)
    missing = [(p, h, fs) for (p, _), (h, fs) in wanted.items() if (p, h.lower()) not in ids]
    _insert(
        "INSERT INTO votes_author (platform, handle, first_seen) VALUES (%s, %s, %s)",
        [(p, h, _db_time(fs)) for p, h, fs in missing],
    )
    summary.authors_new = len(missing)
    ids.update(_existing_authors({(p, h.lower()): None for p, h, _ in missing}))
    if missing:
        announce_authors_changed([ids[(p, h.lower())] for p, h, _ in missing])
    return ids


def _existing_authors(keys) -> dict[tuple[str, str], int]:
    ids: dict[tuple[str, str], int] = {}
    by_platform: dict[str, list[str]] = {}
    for platform, handle_lower in keys:
        by_platform.setdefault(platform, []).append(handle_lower)
    for platform, handles in by_platform.items():
        for chunk in _chunks(handles):
            for pk, handle in Author.objects.with_handles(platform, chunk).values_list("id", "handle"):
                ids[(platform, handle.lower())] = pk
    return ids


def _posts(staged: Staged, summary: Summary, author_ids) -> dict[tuple[str, str], tuple[int, int]]:
    """(platform, post id) -> (post id, author id), creating missing posts."""
    found = _existing_posts(list(staged.posts))
    for key, (_, author_id) in found.items():
        seen = staged.posts[key]
        if author_ids[(key[0], seen.handle.lower())] != author_id:  # registered since validation
            raise ImportRejected([RowError(seen.line, f"post {key[0]}/{key[1]} was just registered by another author")], 1)
    missing = [key for key in staged.posts if key not in found]
    rows = []
    for platform, pid in missing:
        seen = staged.posts[(platform, pid)]
        url = get_platform(platform).canonical_url(seen.handle, pid)
        rows.append((platform, pid, author_ids[(platform, seen.handle.lower())], url, _db_time(seen.first_seen)))
    _insert("INSERT INTO votes_post (platform, external_id, author_id, url, first_seen) VALUES (%s, %s, %s, %s, %s)", rows)
    summary.posts_new = len(missing)
    found.update(_existing_posts(missing))
    return found


def _existing_posts(keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    found: dict[tuple[str, str], tuple[int, int]] = {}
    by_platform: dict[str, list[str]] = {}
    for platform, pid in keys:
        by_platform.setdefault(platform, []).append(pid)
    for platform, pids in by_platform.items():
        for chunk in _chunks(pids):
            for ext, pk, author_id in Post.objects.filter(platform=platform, external_id__in=chunk).values_list(
                "external_id", "id", "author_id"
            ):
                found[(platform, ext)] = (pk, author_id)
    return found


def _votes(latest, user_ids, posts, summary: Summary, show_progress: bool) -> list[tuple]:
    """Insert new votes, update older opposite ones; returns (voter, post, author, value, at, action, solicited)."""
    resolved = [
        (user_ids[voter], *posts[(platform, pid)], value, created, solicited)
        for (voter, platform, pid), (created, _, value, solicited) in latest.items()
    ]
    applied: list[tuple] = []
    bar = tqdm(total=len(resolved), unit="vote", desc="votes", disable=not show_progress, leave=False)
    for chunk in _chunks(resolved):
        pairs = {(v, p) for v, p, *_ in chunk}
        existing = {
            (v, p): (pk, value, updated, solicited)
            for pk, v, p, value, updated, solicited in Vote.objects.filter(
                post_id__in={p for _, p in pairs}, voter_id__in={v for v, _ in pairs}
            ).values_list("id", "voter_id", "post_id", "value", "updated_at", "solicited")
            if (v, p) in pairs
        }
        new = []
        for voter_id, post_id, author_id, value, created, solicited in chunk:
            old = existing.get((voter_id, post_id))
            if old is None:
                new.append(Vote(voter_id=voter_id, post_id=post_id, author_id=author_id, value=value,
                                created_at=created, updated_at=created, solicited=solicited))
                applied.append((voter_id, post_id, author_id, value, created, "cast", solicited))
            elif old[1] != value and created > old[2]:
                # The vote keeps its own `solicited`: it says how the vote was first cast.
                Vote.objects.filter(pk=old[0]).update(value=value, reason="", updated_at=created)
                applied.append((voter_id, post_id, author_id, value, created, "changed", old[3]))
                summary.votes_changed += 1
            else:
                summary.votes_unchanged += 1
        Vote.objects.bulk_create(new)
        summary.votes_new += len(new)
        bar.update(len(chunk))
    bar.close()
    return applied


def _db_time(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _insert(sql: str, rows: list[tuple]) -> None:
    with connection.cursor() as cur:
        for chunk in _chunks(rows):
            cur.executemany(sql, chunk)
