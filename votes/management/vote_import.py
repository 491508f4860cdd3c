"""Bulk import of votes from the interchange CSV.

    platform,post_id,author,voter,value,created_at,voter_joined_at[,solicited]

The last column, `solicited`, is optional: `1` for a vote cast on a post Merit picked for the voter
("Rate next"), `0` for one the voter chose. A file without the column is valid and means 0.

A bad file changes nothing: every row is checked before anything is applied, and the whole import is
one transaction (`import_file`).

- `validate` reads the file once and checks every row (platform, post id and
  handle for that platform, value exactly 1 or -1, solicited exactly 0 or 1, ISO 8601 times, a valid
  username, no vote by a voter on a handle they linked as their own or claimed and are proving, no post
  id claimed by two authors in the file or by another author in the database) and writes the good rows
  to a temporary tab-separated file. Any bad row rejects the whole file with line numbers.
  `load` then applies the staged rows (vote_import_generic on SQLite, the dev default: chunked
  queries and bulk inserts).
- On PostgreSQL (vote_import_pg) the file goes into a temporary table by COPY first and is checked by
  SQL plus the Python rules applied once per distinct handle, post id, voter and time; a file those
  checks do not vouch for (a bad row, a conflict, a rarer time form) goes through `validate`, whose
  verdict and messages are the same either way. The merge is set-based SQL.

Semantics, decided here so re-runs are safe:
- One vote per (voter, post): when the file holds several rows for the same
  pair, the latest `created_at` wins (ties: the later line).
- A vote already in the database is left alone unless the file's row is newer
  than its last change and has the other value; then it is updated and logged
  as "changed" (the newest statement of the voter's opinion wins, as on the site).
  Re-importing the same file therefore changes nothing.
- New votes are logged as "cast" events with source "import", dated when they
  were cast (created_at), so the event log replays them in order.
- A new vote takes its row's `solicited`; a vote already in the database keeps its
  own (as on the site, the flag says how the vote was first cast).
- A new account gets `voter_joined_at` as its join date (the earliest one if the
  file disagrees with itself) and an unusable password; existing accounts keep theirs.
- A post's and a new author's `first_seen` is their earliest vote in the file.
- Every author whose votes changed is marked pending in the refresh outbox in
  the same transaction; `recompute_reputation` (or the periodic sweep) does the rest.
- Known limit: a vote retracted on the site since an earlier import of the same
  file is re-created by a re-run, because the file still states it.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from votes.models import Author, ClaimStatus, HandleClaim, Post
from votes.platforms import PLATFORMS, may_be_same_author

User = get_user_model()
HEADER = ["platform", "post_id", "author", "voter", "value", "created_at", "voter_joined_at"]
OPTIONAL = ["solicited"]  # may follow HEADER; absent means 0
# Django's UnicodeUsernameValidator plus the field's 150-character limit.
USERNAME = re.compile(r"^[\w.@+-]{1,150}\Z")
SHOWN_ERRORS = 20
CHUNK = 500
# Clock skew allowance for "in the future" checks.
FUTURE_SLACK = timedelta(minutes=10)

Progress = Callable[[int], object]  # its result is ignored (tqdm's update returns one)


@dataclass
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportRejected(Exception):
    """The file has bad rows; nothing was imported."""

    def __init__(self, errors: list[RowError], bad_rows: int):
        self.errors = sorted(errors, key=lambda e: e.line)[:SHOWN_ERRORS]
        self.bad_rows = bad_rows
        super().__init__(self.report())

    def report(self) -> str:
        lines = [f"{self.bad_rows} bad row(s); nothing was imported."]
        lines += [f"  {e}" for e in self.errors]
        if self.bad_rows > len(self.errors):
            lines.append(f"  ... and {self.bad_rows - len(self.errors)} more")
        return "\n".join(lines)


@dataclass
class SeenPost:
    handle: str
    line: int
    first_seen: datetime
    rows: int = 1


@dataclass
class Staged:
    """Validated rows: votes in a temporary TSV file, users and posts in memory."""

    votes: TextIO  # line, voter, platform, post_id, value, created_at (ISO, UTC), solicited (0/1)
    rows: int
    users: dict[str, datetime]
    posts: dict[tuple[str, str], SeenPost]


@dataclass
class Summary:
    rows: int = 0
    votes_new: int = 0
    votes_changed: int = 0
    votes_unchanged: int = 0
    duplicate_rows: int = 0
    users_new: int = 0
    authors_new: int = 0
    posts_new: int = 0
    authors_marked: int = 0
    # How the rows were checked: "sql" (the COPY'd file, PostgreSQL) or "python" (row by row), and why
    # a PostgreSQL import fell back to Python (a file the SQL checks do not take as it is).
    validated_by: str = ""
    fallback: str = ""
    fk_checks: str = "per row"  # or "bulk": referenced rows locked by one statement each
    indexes: str = "kept"  # or "rebuilt (n)": set aside during the inserts (vote_import_pg)
    timings: dict[str, float] = field(default_factory=dict)


class _Errors:
    """Keeps the first errors (they come in line order) and counts the rest."""

    def __init__(self) -> None:
        self.shown: list[RowError] = []
        self.bad_rows = 0

    def add(self, line: int, message: str, rows: int = 1) -> None:
        self.bad_rows += rows
        if len(self.shown) < SHOWN_ERRORS:
            self.shown.append(RowError(line, message))


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:  # the format says UTC
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _counted_lines(f: TextIO, progress: Progress | None) -> Iterator[str]:
    """Yield the file's lines, reporting consumed characters every few thousand lines."""
    pending = 0
    for i, line in enumerate(f, 1):
        pending += len(line)
        if progress and i % 5000 == 0:
            progress(pending)
            pending = 0
        yield line
    if progress and pending:
        progress(pending)


def validate(path: str, progress: Progress | None = None) -> Staged:
    """Check every row of the file; return the staged good rows or raise ImportRejected."""
    errors = _Errors()
    owners = own_handles()
    users: dict[str, datetime] = {}
    posts: dict[tuple[str, str], SeenPost] = {}
    out = tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n")  # noqa: SIM115 (returned open in Staged)
    latest = datetime.now(UTC) + FUTURE_SLACK
    joined_cache: dict[str, datetime] = {}
    rows = 0
    reader = None
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(_counted_lines(f, progress))
            header = next(reader, None)
            names = [h.strip().lower() for h in header] if header is not None else None
            if names not in (HEADER, HEADER + OPTIONAL):
                raise ImportRejected(
                    [RowError(1, f"the header must be exactly: {','.join(HEADER)} (optionally followed by ,{OPTIONAL[0]})")], 1
                )
            width = len(names)
            write = out.write
            for row in reader:
                line = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                rows += 1
                if len(row) != width:
                    errors.add(line, f"expected {width} fields, found {len(row)}")
                    continue
                platform, post_id, handle, voter, value, created_raw, joined_raw, *rest = (v.strip() for v in row)
                solicited = rest[0] if rest else "0"
                handle = handle.lstrip("@")
                problems = _field_problems(platform, post_id, handle, voter, value)
                if solicited not in ("0", "1"):
                    problems.append(f"solicited must be 0 or 1, not '{solicited}'")
                created, joined = _times(created_raw, joined_raw, joined_cache, latest, problems)
                if not problems:
                    spec = PLATFORMS[platform]  # stored forms (Mastodon instances lower-cased)
                    handle, post_id = spec.clean_handle(handle), spec.clean_post_id(post_id)
                    if (platform, handle.lower(), voter) in owners:
                        problems.append(f"{voter} linked @{handle} as their own account and cannot vote on its posts")
                    seen = posts.get((platform, post_id))
                    if seen is None:
                        posts[(platform, post_id)] = SeenPost(handle, line, created)
                    elif not may_be_same_author(seen.handle, handle):
                        problems.append(
                            f"post {platform}/{post_id} is attributed to @{handle} here but to @{seen.handle} on line {seen.line}"
                        )
                    else:
                        seen.rows += 1
                        seen.first_seen = min(seen.first_seen, created)
                if problems:
                    errors.add(line, "; ".join(problems))
                    continue
                if voter not in users or joined < users[voter]:
                    users[voter] = joined
                write(f"{line}\t{voter}\t{platform}\t{post_id}\t{value}\t{created.isoformat()}\t{solicited}\n")
    except (UnicodeDecodeError, csv.Error) as exc:  # not text, or not CSV: nothing past it can be read
        out.close()
        raise unreadable(path, exc, reader.line_num if reader is not None else 1) from None
    _check_existing_posts(posts, errors)
    if errors.bad_rows:
        out.close()
        raise ImportRejected(errors.shown, errors.bad_rows)
    out.seek(0)
    return Staged(votes=out, rows=rows, users=users, posts=posts)


def own_handles() -> set[tuple[str, str, str]]:
    """(platform, lower(handle), username) of every handle a user may not vote on: their verified own, or
    their claim still waiting for its proof (what votes.services refuses on the site)."""
    now = timezone.now()
    verified = Author.objects.filter(owner__isnull=False).values_list("platform", "handle", "owner__username")
    pending = HandleClaim.objects.filter(status=ClaimStatus.PENDING, expires_at__gt=now).values_list(
        "author__platform", "author__handle", "user__username"
    )
    return {(platform, handle.lower(), username) for platform, handle, username in [*verified, *pending]}


def unreadable(path: str, exc: UnicodeDecodeError | csv.Error, line: int) -> ImportRejected:
    """The file cannot be read as UTF-8 CSV from some line on: which line, and what to do about it."""
    if isinstance(exc, UnicodeDecodeError):
        # Text is decoded in blocks, so the error's position says nothing of lines: find the first bad one.
        line, column, byte = _first_non_utf8(path)
        message = (
            f"byte 0x{byte:02X} (character {column}) is not UTF-8 text; save the file as UTF-8 "
            '(e.g. "CSV UTF-8" in a spreadsheet) and import it again'
        )
    else:
        message = f"not readable as CSV ({exc})"
    return ImportRejected([RowError(line, message)], 1)


def _first_non_utf8(path: str) -> tuple[int, int, int]:
    """(line, character, byte) of the file's first byte that is not UTF-8; lines and characters count from 1."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, len(raw[: exc.start].decode("utf-8")) + 1, raw[exc.start]
    raise AssertionError("the text reader found bytes that are not UTF-8, and this scan none")


def _field_problems(platform: str, post_id: str, handle: str, voter: str, value: str) -> list[str]:
    problems = []
    spec = PLATFORMS.get(platform)
    if spec is None:
        problems.append(f"unknown platform '{platform}' (supported: {', '.join(sorted(PLATFORMS))})")
    else:
        if not spec.post_id.match(post_id):
            problems.append(f"'{post_id}' is not a valid {spec.label} post id")
        if not spec.handle.match(handle):
            problems.append(f"'{handle}' is not a valid {spec.label} handle")
    if value not in ("1", "-1"):
        problems.append(f"value must be 1 or -1, not '{value}'")
    if not USERNAME.match(voter):
        problems.append(f"'{voter}' is not a valid username (letters, digits and @.+-_, at most 150)")
    return problems


def _times(created_raw: str, joined_raw: str, joined_cache: dict, latest: datetime, problems: list[str]):
    """Parse both times, appending what is wrong with them to `problems`."""
    created = joined = None
    try:
        created = _parse_time(created_raw)
        if created > latest:
            problems.append(f"created_at {created_raw} is in the future")
    except (ValueError, OverflowError):  # OverflowError: a time zone moves it past year 1 or 9999
        problems.append(f"created_at '{created_raw}' is not an ISO 8601 time")
    try:
        # Join times repeat on every row of a voter: parse each distinct string once.
        joined = joined_cache.get(joined_raw) or joined_cache.setdefault(joined_raw, _parse_time(joined_raw))
        if joined > latest:
            problems.append(f"voter_joined_at {joined_raw} is in the future")
    except (ValueError, OverflowError):
        problems.append(f"voter_joined_at '{joined_raw}' is not an ISO 8601 time")
    if created and joined and created < joined:
        problems.append("created_at is before voter_joined_at (a vote before the account existed)")
    return created, joined


def _check_existing_posts(posts: dict[tuple[str, str], SeenPost], errors: _Errors) -> None:
    """A post id the database attributes to another author is a conflict, never a re-attribution."""
    for platform, ids in _ids_by_platform(posts).items():
        for start in range(0, len(ids), CHUNK):
            existing = Post.objects.filter(platform=platform, external_id__in=ids[start : start + CHUNK]).values_list(
                "external_id", "author__handle"
            )
            for external_id, db_handle in existing:
                seen = posts[(platform, external_id)]
                if not may_be_same_author(db_handle, seen.handle):
                    errors.add(
                        seen.line,
                        f"post {platform}/{external_id} already belongs to @{db_handle}, not @{seen.handle}"
                        + (f" ({seen.rows} rows in this file)" if seen.rows > 1 else ""),
                        rows=seen.rows,
                    )
    errors.shown.sort(key=lambda e: e.line)


def _ids_by_platform(posts) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for platform, external_id in posts:
        grouped.setdefault(platform, []).append(external_id)
    return grouped


def import_file(
    path: str, show_progress: bool = False, stage: Callable[[str], None] | None = None, indexes: str = "auto"
) -> Summary:
    """Validate and load a file in one transaction (PostgreSQL: COPY first, checks in SQL); raises
    ImportRejected, OSError or DatabaseError, and then nothing was imported.

    `indexes` (PostgreSQL): "auto" rebuilds the vote and event tables' secondary indexes after the
    inserts when the file holds more rows than the votes table (an exclusive lock on both until commit;
    see vote_import_pg), "rebuild" always does for a large file, "keep" never does."""
    stage = stage or (lambda name: None)
    if connection.vendor == "postgresql":
        from .vote_import_pg import import_postgres

        return import_postgres(path, show_progress, stage, indexes)
    started = time.perf_counter()
    with file_bar(path, "validating", show_progress) as bar:
        staged = validate(path, progress=bar.update)
    with staged.votes:
        summary = load(staged, show_progress, stage)
    summary.timings = {"validate": time.perf_counter() - started - sum(summary.timings.values()), **summary.timings}
    summary.validated_by = "python"
    return summary


def file_bar(path: str, desc: str, show: bool) -> tqdm:
    """A progress bar over a file's bytes, on stderr (stdout carries the report)."""
    return tqdm(total=os.path.getsize(path), unit="B", unit_scale=True, desc=desc, disable=not show,
                file=sys.stderr, leave=False)


def load(staged: Staged, show_progress: bool = False, stage: Callable[[str], None] | None = None) -> Summary:
    """Apply validated rows in one transaction; returns what changed."""
    stage = stage or (lambda name: None)
    summary = Summary(rows=staged.rows)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            from .vote_import_pg import load_postgres

            load_postgres(staged, summary, show_progress, stage)
        else:
            from .vote_import_generic import load_generic

            load_generic(staged, summary, show_progress, stage)
        stage("commit")
        # Commit runs PostgreSQL's deferred foreign-key checks on every inserted row.
        committing = time.perf_counter()
    summary.timings["commit"] = time.perf_counter() - committing
    return summary


@contextmanager
def timed(summary: Summary, name: str, stage: Callable[[str], None]) -> Iterator[None]:
    """Record how long one load step took (and announce it)."""
    stage(name)
    started = time.perf_counter()
    try:
        yield
    finally:
        summary.timings[name] = summary.timings.get(name, 0.0) + time.perf_counter() - started


def tsv(rows) -> io.StringIO:
    """Rows as COPY text format; every value was validated to hold no tab, newline or backslash."""
    buf = io.StringIO()
    buf.writelines("\t".join("\\N" if v is None else str(v) for v in row) + "\n" for row in rows)
    buf.seek(0)
    return buf

