"""PostgreSQL import for `import_votes`: the file goes in by COPY, checks and merge are set-based SQL.

One transaction, in four steps (votes.management.vote_import documents what an import means):

1. Stage. The file is streamed into a temporary table by COPY as it is (every field text, a row's line
   number from its position: see `_copy_file`). One pass over those rows (`_group_rows`) checks what is
   cheap per row (platform, value, solicited, times in the future, created_at exactly as PostgreSQL
   prints it) and gathers each distinct post with its author and voter with join time; the Python
   validator's own rules run once per distinct one of those (few, next to the rows), and once per
   distinct created_at date and time of day of the rows written some other way, so the only grammar
   written twice is TIME_FORMS, the ISO 8601 forms both read alike; joins of those few rows find
   cross-row and database conflicts. The rows themselves stay as the file wrote them (`import_votes` is a view that types them
   as they are read), and the votes find their voter's and post's ids by that text (import_voter_ids,
   import_post_ids). Anything these do not accept (a bad row, a conflict, a rarer time form, a field in quotes
   with more inside) sends the whole file through the Python validator instead, which explains bad rows
   with their line numbers, or stages the file when it is good after all: one validator decides, the
   SQL is only its fast path for files it would accept.
2. Merge: users, authors, posts, votes (new ones inserted, older opposite ones changed), the vote
   event log and the refresh outbox, each one INSERT ... SELECT (... ON CONFLICT). Votes are first
   joined to any vote already there and resolved to one row per (voter, post), the latest winning (rows
   no newer than the vote there change nothing and are not sorted: `_resolve_and_write`); into an
   empty votes table with its indexes set aside, the rows go in as they are instead, and rebuilding the
   unique (voter, post) index proves no pair repeated (if one did, a savepoint undoes it and the file
   takes the general way: `_insert_into_empty`).
3. Foreign keys. Django's are deferred, and PostgreSQL checks each inserted row at commit, one query
   per row and key (five per vote: 37 of the 87 s a million-row import took). When the database role
   may set `session_replication_role` (a superuser, or `GRANT SET ON PARAMETER session_replication_role`), the
   import instead locks every referenced user, post and author row FOR KEY SHARE in one statement each,
   which is all the per-row checks would do (the rows exist, and nobody deletes them before commit), and
   inserts posts, votes and events with the row triggers off. A table whose referenced rows the import
   inserted itself (all of them, as in a first import) is not locked: no other transaction sees those rows.
   Otherwise the per-row checks run as usual.
4. Indexes. A large import into a smaller table rebuilds the vote and event indexes (primary keys
   included) and the posts' plain ones after the inserts instead of updating them row by row
   (`_set_indexes_aside`; the command's --indexes).

Temporary tables drop at commit (and explicitly at the end, for a caller's enclosing transaction).
"""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta

import psycopg2
from django.db import DatabaseError, IntegrityError, connection, transaction
from tqdm import tqdm

from reputation.bulk import raw_cursor
from reputation.models import PendingRefresh
from votes.models import Author, HandleClaim, Post, Vote, VoteEvent
from votes.platforms import PLATFORMS, Platform
from votes.signals import announce_authors_changed

from .vote_import import (
    FUTURE_SLACK,
    HEADER,
    OPTIONAL,
    USERNAME,
    ImportRejected,
    RowError,
    Staged,
    Summary,
    User,
    _parse_time,
    file_bar,
    timed,
    tsv,
    validate,
)

USERS = User._meta.db_table
AUTHORS = Author._meta.db_table
POSTS = Post._meta.db_table
VOTES = Vote._meta.db_table
EVENTS = VoteEvent._meta.db_table
PENDING = PendingRefresh._meta.db_table
CLAIMS = HandleClaim._meta.db_table
TEMP = ("import_users", "import_posts", "import_votes", "import_resolved", "import_touched", "import_groups",
        "import_spellings", "import_voter_keys", "import_post_keys", "import_voter_ids", "import_post_ids",
        "import_matched")
# Quote and escape for the raw COPY: a byte no valid file holds (checked while reading), so COPY splits
# at commas only and fields keep their double quotes for the SQL to read the way Python's csv does.
NO_QUOTE = "\x01"
# Indexes are set aside only for imports this large (below, keeping them costs little) and only after
# waiting at most LOCK_WAIT for the tables.
REBUILD_MIN_ROWS = 100_000
LOCK_WAIT = "10s"
# Above this many new authors the signal says "every author" (one cache generation, not a key each).
ANNOUNCE_EACH = 1000
# work_mem for the import's sorts and hash tables, and BATCHED for the hash joins and aggregations over
# every row of a large file. Those probe tables of up to a million keys (56 MB for 800k posts) in random
# order, each probe a cache and TLB miss; in BATCHED memory PostgreSQL splits such a table into batches
# that fit in the CPU's cache, writing the rows out once per split: 10M rows joined to 800k posts took
# 8.0 s with one hash table, 4.2 s in 32 batches (psql; bench/README.md, vote import).
WORK_MEM = "512MB"
BATCHED = "1MB"

# Per-platform stored forms (Platform.clean_handle / clean_post_id) in SQL; a platform that overrides
# them needs an entry here, and its grammar must judge a stored form as it judges the original
# (tests/test_import_copy.py compares the SQL path with the Python validator on every platform).
CLEAN_SQL = {
    "mastodon": ("split_part({h}, '@', 1) || '@' || lower(split_part({h}, '@', 2))", "lower({p})"),
}
# TIME_FORMS: the ISO 8601 times Python's datetime.fromisoformat and PostgreSQL read alike, which SQL may
# cast (time_form_ok): a date, or a date, T or space, and hours:minutes[:seconds[.1-6 digits]] with an
# optional Z or +-HH[[:]MM] offset under 15 hours; years 1000-8999 (Python refuses times a zone moves past
# year 1 or 9999). Other forms Python accepts go through the Python validator.


class NotFast(Exception):
    """The SQL checks do not take this file as it is; the Python validator decides."""


def import_postgres(path: str, show_progress: bool, stage, indexes: str = "auto") -> Summary:
    summary = Summary()
    started = time.perf_counter()
    # A caller's transaction may have deleted posts: PostgreSQL then builds no index on that table before
    # the deferred foreign-key checks run (at commit), so only an import that is a transaction of its own
    # sets the posts' indexes aside.
    own_transaction = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cur:
        # Large sorts and hash joins stay in memory; SET LOCAL ends with the transaction. Times are UTC and
        # print in ISO form (_as_printed compares a file's times with that).
        cur.execute(f"SET LOCAL work_mem = '{WORK_MEM}'; SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO'")
        _try_set(cur, "temp_buffers", "'256MB'")  # only before this session's first temporary table
        try:
            with transaction.atomic():  # a savepoint: a file the SQL does not take leaves nothing behind
                summary.rows = _stage_file(cur, path, summary, show_progress, stage)
            summary.validated_by = "sql"
        except NotFast as why:
            summary.fallback = str(why)
            with timed(summary, "validate", stage), file_bar(path, "validating", show_progress) as bar:
                staged = validate(path, progress=bar.update)  # raises ImportRejected with line numbers
            with staged.votes, timed(summary, "copy", stage):
                summary.rows = _stage_validated(cur, staged)
            summary.validated_by = "python"
        _merge(cur, summary, show_progress, stage, indexes, posts_aside=own_transaction)
        _drop_temporary(cur)
        stage("commit")
        committing = time.perf_counter()
    summary.timings["commit"] = time.perf_counter() - committing
    summary.timings["total"] = time.perf_counter() - started
    return summary


def load_postgres(staged: Staged, summary: Summary, show_progress: bool, stage) -> None:
    """Apply rows `validate` staged, inside the caller's transaction (vote_import.load)."""
    with connection.cursor() as cur:
        cur.execute(f"SET LOCAL work_mem = '{WORK_MEM}'; SET LOCAL TimeZone = 'UTC'")
        with timed(summary, "copy", stage):
            _stage_validated(cur, staged)
        _merge(cur, summary, show_progress, stage, "keep")
        _drop_temporary(cur)


def _drop_temporary(cur) -> None:
    """The import's temporary tables (import_votes is a view over import_raw when SQL checked the file,
    a table when Python did: CASCADE takes the view with its table)."""
    cur.execute("DROP TABLE IF EXISTS import_raw CASCADE")
    cur.execute(f"DROP TABLE IF EXISTS {', '.join(TEMP)}")


def _try_set(cur, name: str, value: str) -> bool:
    """SET LOCAL a setting if this role and session may; False (and nothing changed) if not."""
    try:
        with transaction.atomic():
            cur.execute(f"SET LOCAL {name} = {value}")
        return True
    except DatabaseError:
        return False


# ---------------------------------------------------------------------------------------------- stage


def _stage_file(cur, path: str, summary: Summary, show_progress: bool, stage) -> int:
    """COPY the file into import_raw and check it in SQL: the view import_votes over it, import_users,
    import_posts and the keys of voters and posts as the file writes them; NotFast if the SQL cannot
    vouch for every row."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        try:
            header = next(csv.reader([f.readline()]), None)
        except (UnicodeDecodeError, csv.Error):
            raise NotFast("the header is not plain CSV") from None
    names = [h.strip().lower() for h in header] if header else None
    if names not in (HEADER, HEADER + OPTIONAL):
        raise NotFast("the header is not one of the two valid ones")
    columns = ["platform", "post_id", "author", "voter", "value", "created_at", "joined", "solicited"][: len(names)]
    cur.execute(
        # A cache of numbers: nextval() for each row from the session's own memory, not the sequence's
        # page (one session numbers these rows, so they stay consecutive).
        "CREATE TEMP TABLE import_raw (n bigint GENERATED ALWAYS AS IDENTITY (CACHE 100000), "
        + ", ".join(f"{c} text" for c in columns) + ") ON COMMIT DROP"
    )
    with timed(summary, "copy", stage):
        rows, plain = _copy_file(cur, path, columns, show_progress)
    with timed(summary, "check", stage):
        field = _plain_field if plain else _field
        _check_rows(cur, field, solicited="solicited" in columns)
        _check_conflicts(cur, field)
    return rows


class _Watched(io.RawIOBase):
    """A binary file that COPY reads, counting lines and refusing the byte used as COPY's quote."""

    def __init__(self, f, bar):
        self.f, self.bar, self.newlines, self.last = f, bar, 0, b"\n"
        self.plain = True  # no double quote and no space anywhere: fields need no unquoting or strip()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        if data:
            if NO_QUOTE.encode() in data:
                raise NotFast("the file holds byte 0x01")
            self.newlines += data.count(b"\n")
            self.plain = self.plain and b'"' not in data and b" " not in data
            self.last = data[-1:]
            self.bar.update(len(data))
        return data


def _copy_file(cur, path: str, columns: list[str], show_progress: bool) -> tuple[int, bool]:
    """COPY every line after the header into import_raw; a row's line number is its position + 1.

    That holds when COPY read exactly one row per line: a blank line, a wrong number of fields or text
    that is not UTF-8 make COPY fail, and a quoted field across lines (or PostgreSQL's end-of-data line
    `\\.`) makes fewer rows than lines. Either sends the file to the Python validator.
    """
    with open(path, "rb") as f, file_bar(path, "reading", show_progress) as bar:
        watched = _Watched(f, bar)
        try:
            with transaction.atomic():
                raw_cursor(cur).copy_expert(  # psycopg2's own: Django's wrapper takes no size
                    f"COPY import_raw ({', '.join(columns)}) FROM STDIN "
                    f"(FORMAT csv, HEADER true, QUOTE E'\\x01', ESCAPE E'\\x01')",
                    watched,
                    size=1 << 20,
                )
        except (DatabaseError, psycopg2.Error) as exc:  # copy_expert is psycopg2's own, unwrapped
            raise NotFast(f"COPY refused it ({str(exc).splitlines()[0]})") from None
        rows = cur.rowcount
        lines = watched.newlines + (watched.last != b"\n")
    if rows != lines - 1:
        raise NotFast(f"{lines - 1} lines after the header hold {rows} rows")
    return rows, watched.plain


def _field(name: str) -> str:
    """A raw field as Python's csv reads it, then strip()ped: a field wholly in double quotes loses them
    (a doubled quote inside is one); any other quote stays and fails the checks."""
    inner = f"substr({name}, 2, length({name}) - 2)"
    return (
        f"btrim(CASE WHEN {name} LIKE '\"%\"' AND length({name}) > 1 AND replace({inner}, '\"\"', '') NOT LIKE '%\"%'"
        f" THEN replace({inner}, '\"\"', '\"') ELSE coalesce({name}, '') END, ' ')"
    )


def _plain_field(name: str) -> str:
    """A raw field of a file with no double quote and no space anywhere: as it is (COPY reads an empty
    one as NULL)."""
    return f"coalesce({name}, '')"


def _check_times(cur, field) -> None:
    """NotFast unless every created_at is in TIME_FORMS. A text that is exactly how PostgreSQL prints the
    time it read (in ISO form with T and Z, years 1000-8999: `_as_printed`) is in TIME_FORMS, and
    _group_rows found the first line of any other. Only when there is one, each distinct date and each
    distinct rest (time and offset) of those other rows is checked in Python, so that the cast SQL made
    of it neither differs from Python's reading nor is used before this check passed (a cast that failed
    sent the file to Python already). (Dates repeat across rows, and times of day too unless they carry
    fractions of a second.)"""
    cur.execute(f"SELECT other_time_line FROM import_groups WHERE g = {_ALL}")
    if cur.fetchone()[0] is None:
        return
    cur.execute(
        "SELECT GROUPING(day, rest), day, rest FROM (SELECT left(c, 10) AS day, substr(c, 11) AS rest"
        f" FROM (SELECT {field('created_at')} AS c FROM import_raw OFFSET 0) f"
        " WHERE NOT " + _as_printed("c", "c::timestamptz") + ") r GROUP BY GROUPING SETS ((day), (rest))"
    )
    for which, day, rest in cur.fetchall():
        if which == _DAYS and not time_form_ok(day, ""):
            raise NotFast(f"created_at date {day!r} needs the Python validator")
        if which == _RESTS and not time_form_ok("2000-01-01", rest):
            raise NotFast(f"created_at time {rest!r} needs the Python validator")


# GROUPING(day, rest) of the two sets above: a bit for the column a set leaves out, day's the higher.
_DAYS, _RESTS = 1, 2


def _as_printed(text: str, time: str) -> str:
    """SQL: whether `text` is exactly how PostgreSQL prints `time`, the value it read from it, with T and
    Z for the space and +00 (TimeZone UTC and DateStyle ISO, both set for the import), in years 1000-8999:
    YYYY-MM-DDTHH:MM:SS[.1-6 digits]Z, with hours, minutes and seconds in range. Every such text is in
    TIME_FORMS (tests/test_import_copy.py checks PostgreSQL's printed forms against time_form_ok), so a
    file written that way needs no per-date and per-time check. One comparison a row instead of grouping
    every row by its date and by its rest (bench/README.md, vote import, has what each costs)."""
    return (
        f"({text} = left(replace({time}::text, ' ', 'T'), -3) || 'Z'"
        f" AND {time} >= '1000-01-01' AND {time} < '9000-01-01')"
    )


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_REST = re.compile(r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}(?::?[0-5][0-9])?)?)?\Z")


def time_form_ok(day: str, rest: str) -> bool:
    """Whether day + rest is in TIME_FORMS (any day in it, with any rest in it, is too)."""
    if not (_DAY.match(day) and _REST.match(rest) and 1000 <= int(day[:4]) <= 8999):
        return False
    try:
        parsed = datetime.fromisoformat(day + rest)
    except ValueError:
        return False
    offset = parsed.utcoffset()
    return offset is None or abs(offset) < timedelta(hours=15)


def _clean(column: str, which: int) -> str:
    """The stored form (Platform.clean_handle, which=0, or clean_post_id, which=1) of a valid value."""
    parts = [f"WHEN '{code}' THEN {template[which].format(h=column, p=column)}" for code, template in CLEAN_SQL.items()]
    return f"CASE platform {' '.join(parts)} ELSE {column} END" if parts else column


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _url_sql(table: str) -> str:
    """A post's address where it is a template of handle and post id (Platform.url_template), in SQL;
    NULL for the other platforms. (Run without parameters: a % stands for itself in the SQL.)"""
    parts = [
        f"WHEN {_literal(code)} THEN format({_literal(spec.url_template.replace('%', '%%').format(handle='%1$s', post_id='%2$s'))},"
        f" {table}.handle, {table}.external_id)"
        for code, spec in PLATFORMS.items() if type(spec).canonical_url is Platform.canonical_url
    ]
    return f"CASE {table}.platform {' '.join(parts)} END" if parts else "NULL"


# The grouping sets of the one pass over the rows (_group_rows), as GROUPING(...) numbers them: a bit for
# each grouped-by column that the set leaves out, the first column's the highest. They are import_raw's
# own columns, the file's text as it is: each distinct one is cleaned once, not per row.
_GROUPED = ("platform", "post_id", "author", "voter", "joined")


def _set_number(*columns: str) -> int:
    return sum(1 << (len(_GROUPED) - 1 - i) for i, name in enumerate(_GROUPED) if name not in columns)


_ALL = _set_number()  # one row: the first line with a value the per-row checks refuse
_SPELLINGS = _set_number("platform", "post_id", "author")  # each post id with each way of naming its author
_VOTERS = _set_number("voter", "joined")  # each voter with each join time


def _check_rows(cur, field, solicited: bool) -> None:
    """import_raw -> the view import_votes (typed, line numbered), import_groups, import_users and
    import_voter_keys; NotFast at the first value the checks do not take.

    Per row in SQL: platform, value, solicited, created_at (cast in SQL; each distinct date and time
    must be in TIME_FORMS). Handles, post ids, voters and join times repeat across rows: each distinct one
    is checked by the Python validator's own rules, so those grammars have one definition.
    """
    for code, spec in PLATFORMS.items():
        overrides = type(spec).clean_handle is not Platform.clean_handle or type(spec).clean_post_id is not Platform.clean_post_id
        if overrides and code not in CLEAN_SQL:
            raise NotFast(f"no SQL for {code}'s stored forms")
    solicited_field = field("solicited") if solicited else "'0'"
    # The rows as the merge reads them: a view, not a table. They are read twice (the pass below, then
    # the votes INSERT), and writing them out typed cost more than computing them again (10M rows: an
    # 11.1 s CREATE TABLE AS, then read by three more statements). Voters and posts stay the file's text
    # (keys into import_voter_ids and import_post_ids, joined on plain columns the planner has figures
    # for). OFFSET 0: created_at, named twice by the INSERT, is cast once.
    cur.execute(
        "CREATE TEMP VIEW import_votes AS SELECT n + 1 AS line, voter AS voter_key, platform AS platform_key,"
        " post_id AS post_key, value, created_at, solicited FROM (SELECT n, voter, platform, post_id,"
        f" CASE {field('value')} WHEN '1' THEN 1 WHEN '-1' THEN -1 END::smallint AS value,"
        f" {field('created_at')}::timestamptz AS created_at,"
        f" CASE {solicited_field} WHEN '1' THEN true WHEN '0' THEN false END AS solicited FROM import_raw OFFSET 0) r"
    )
    # Figures for the columns the votes are joined on (the sample's row count comes with them).
    _analyze_own(cur, "import_raw (voter, platform, post_id)")
    _group_rows(cur, field, solicited_field)
    _check_times(cur, field)
    _check_distinct(cur, field)


def _group_rows(cur, field, solicited_field: str) -> None:
    """One pass over the rows into import_groups: the first line the per-row checks refuse, the first
    line whose created_at is not as PostgreSQL prints it (_as_printed), each post id with each spelling
    of its author (first line and vote), each voter with each join time (first vote). Everything after
    reads these few rows, not the file's.

    The created_at cast runs here, before its forms are checked: a text PostgreSQL cannot read fails it,
    which sends the file to Python, and the forms are checked before anything uses what it read."""
    raw = ", ".join(_GROUPED)
    try:
        with transaction.atomic():
            cur.execute(
                f"CREATE TEMP TABLE import_groups ON COMMIT DROP AS SELECT GROUPING({raw}) AS g,"
                f" {raw}, min(created_at) AS first_at, min(line) AS first_line,"
                f" min(line) FILTER (WHERE refused OR created_at > {_literal(_latest().isoformat())}) AS bad_line,"
                " min(line) FILTER (WHERE NOT printed) AS other_time_line"
                f" FROM (SELECT line, {raw}, created_at, refused, {_as_printed('c', 'created_at')} AS printed"
                f" FROM (SELECT n + 1 AS line, {raw}, c, c::timestamptz AS created_at,"
                " value NOT IN ('1', '-1') OR solicited NOT IN ('0', '1')"
                f" OR platform_text <> ALL(ARRAY[{', '.join(map(_literal, PLATFORMS))}]) AS refused"
                f" FROM (SELECT n, {raw}, {field('created_at')} AS c, {field('value')} AS value,"
                f" {solicited_field} AS solicited, {field('platform')} AS platform_text FROM import_raw OFFSET 0) f"
                " OFFSET 0) t OFFSET 0) r GROUP BY GROUPING SETS ((), (platform, post_id, author), (voter, joined))"
            )  # no parameters: a % in the SQL stands for itself
    except DatabaseError as exc:
        raise NotFast(f"SQL could not read every row ({str(exc).splitlines()[0]})") from None


def _check_distinct(cur, field) -> None:
    """The per-row checks SQL made, then each distinct voter and join time by the Python validator's
    rules; fills import_users (a voter's earliest join time) and import_voter_keys (the file's text of
    a voter -> username). (Handles and post ids: _check_conflicts.)"""
    latest = _latest()
    cur.execute(f"SELECT bad_line FROM import_groups WHERE g = {_ALL}")
    line = cur.fetchone()[0]
    if line is not None:
        raise NotFast(f"line {line} needs the Python validator")
    users: dict[str, datetime] = {}
    cur.execute(f"SELECT {field('voter')}, {field('joined')}, first_at FROM import_groups WHERE g = {_VOTERS}")
    for voter, joined_raw, first_vote in cur.fetchall():
        try:
            joined = _parse_time(joined_raw)
        except (ValueError, OverflowError):
            raise NotFast(f"join time {joined_raw!r} needs the Python validator") from None
        if not USERNAME.match(voter) or joined > latest or first_vote < joined:
            raise NotFast(f"voter {voter!r} needs the Python validator")
        if voter not in users or joined < users[voter]:
            users[voter] = joined
    cur.execute("CREATE TEMP TABLE import_users (username text, joined timestamptz) ON COMMIT DROP")
    raw_cursor(cur).copy_expert("COPY import_users FROM STDIN", tsv((u, j.isoformat()) for u, j in users.items()))
    cur.execute(  # one row per key: a voter's join times were rows of their own above
        "CREATE TEMP TABLE import_voter_keys ON COMMIT DROP AS"
        f" SELECT DISTINCT voter AS key, {field('voter')} AS username FROM import_groups WHERE g = {_VOTERS}"
    )


def _latest() -> datetime:
    return datetime.now(UTC) + FUTURE_SLACK


def _check_conflicts(cur, field) -> None:
    """Build import_posts and import_post_keys (the file's text of a post -> platform and stored id);
    NotFast on a handle or post id Python would refuse, a vote on one's own handle, a post named with
    two authors in the file, or a post the database gives another author."""
    # Each post id with each way of naming its author, cleaned once (from import_groups: a row each).
    cur.execute(
        "CREATE TEMP TABLE import_spellings ON COMMIT DROP AS SELECT platform_key, post_key, author_key, platform,"
        f" {_clean('post_id', 1)} AS external_id, handle AS raw_handle, {_clean('handle', 0)} AS handle, first_at, first_line"
        f" FROM (SELECT platform AS platform_key, post_id AS post_key, author AS author_key, {field('platform')} AS platform,"
        f" {field('post_id')} AS post_id, ltrim({field('author')}, '@') AS handle, first_at, first_line"
        f" FROM import_groups WHERE g = {_SPELLINGS} OFFSET 0) g"
    )
    cur.execute("SELECT DISTINCT platform, raw_handle FROM import_spellings")
    for platform, handle in cur.fetchall():  # every platform is known: _check_distinct saw no refused row
        if not PLATFORMS[platform].handle.match(handle):
            raise NotFast(f"handle {handle!r} needs the Python validator")
    owners = (
        f"SELECT a.platform, lower(a.handle) AS handle, u.username FROM {AUTHORS} a JOIN {USERS} u ON u.id = a.owner_id"
        f" UNION SELECT a.platform, lower(a.handle), u.username FROM {CLAIMS} c JOIN {AUTHORS} a ON a.id = c.author_id"
        f" JOIN {USERS} u ON u.id = c.user_id WHERE c.status = 'pending' AND c.expires_at > now()"
    )
    cur.execute(f"SELECT EXISTS ({owners})")
    if cur.fetchone()[0]:  # the rows of an owned handle's posts, by its owner
        cur.execute(
            f"SELECT 1 FROM ({owners}) o JOIN import_spellings s ON s.platform = o.platform AND lower(s.handle) = o.handle"
            " JOIN import_voter_keys k ON k.username = o.username JOIN import_raw r ON r.voter = k.key"
            " AND r.platform = s.platform_key AND r.post_id = s.post_key AND r.author = s.author_key LIMIT 1"
        )
        if cur.fetchone():
            raise NotFast("a voter votes on a handle they linked")
    # One row per post, with its first line's spelling of the author. Most posts have one spelling; the
    # rest take their first line's and must differ in letter case only. (Over the spellings: text min()
    # and max() over every vote row copied a handle per row, 13.4 s of a 10M-row import.)
    cur.execute(
        "CREATE TEMP TABLE import_posts ON COMMIT DROP AS SELECT platform, external_id,"
        ' min(handle COLLATE "C") AS handle, min(first_at) AS first_seen, min(first_line) AS first_line,'
        ' min(handle COLLATE "C") <> max(handle COLLATE "C") AS spelled FROM import_spellings GROUP BY platform, external_id'
    )
    cur.execute(
        "CREATE TEMP TABLE import_post_keys ON COMMIT DROP AS"
        " SELECT DISTINCT platform_key, post_key, platform, external_id FROM import_spellings"
    )
    # Post ids are checked here, one per post, in their stored form: a stored form is valid exactly when
    # what the file wrote is (only Mastodon's differs, in letter case, which its grammar ignores).
    cur.execute("SELECT platform, external_id FROM import_posts")
    for platform, post_id in cur.fetchall():
        if not PLATFORMS[platform].post_id.match(post_id):
            raise NotFast(f"post id {post_id!r} needs the Python validator")
    cur.execute("SELECT 1 FROM import_posts WHERE spelled LIMIT 1")
    if cur.fetchone():
        cur.execute(
            "SELECT 1 FROM import_spellings v JOIN import_posts s ON s.platform = v.platform AND s.external_id = v.external_id"
            " WHERE s.spelled AND lower(v.handle) <> lower(s.handle) LIMIT 1"
        )
        if cur.fetchone():  # a conflict, or a Bluesky post named by DID and by handle: the Python rules decide
            raise NotFast("a post is named with more than one author")
        # A line is in one spelling's group, so the post's first line picks the spelling written there.
        cur.execute("UPDATE import_posts s SET handle = v.handle FROM import_spellings v"
                    " WHERE s.spelled AND v.first_line = s.first_line")
    if _post_of_another_author(cur):
        raise NotFast("a post already belongs to another author")
    # url stays NULL for the platforms whose address is a template: the posts INSERT writes it (_url_sql).
    cur.execute("ALTER TABLE import_posts DROP COLUMN first_line, DROP COLUMN spelled, ADD COLUMN url text")
    for code, spec in PLATFORMS.items():
        if type(spec).canonical_url is not Platform.canonical_url:  # computed: in Python, per distinct post
            cur.execute("SELECT external_id, handle FROM import_posts WHERE platform = %s", [code])
            urls = tsv((pid, spec.canonical_url(handle, pid)) for pid, handle in cur.fetchall())
            cur.execute("CREATE TEMP TABLE import_urls (external_id text, url text) ON COMMIT DROP")
            cur.copy_expert("COPY import_urls FROM STDIN", urls)
            cur.execute("UPDATE import_posts s SET url = u.url FROM import_urls u"
                        " WHERE s.platform = %s AND s.external_id = u.external_id", [code])
            cur.execute("DROP TABLE import_urls")


def _post_of_another_author(cur) -> tuple | None:
    """A post of import_posts that the database gives another author (platform, post id, its author's
    handle, the file's), or None. A handle and a DID are not compared: they may name the same account.

    Planned as hash joins in BATCHED memory. With LIMIT 1 PostgreSQL expects a match early and plans a
    nested loop of two index lookups a post, but a clash is rare, so the loop runs over every post the
    file names: on a re-import, all of them (800k posts at 10M rows, run twice: here and after the posts
    INSERT; bench/README.md, vote import)."""
    _batched(cur)
    cur.execute(
        "SELECT s.platform, s.external_id, a.handle, s.handle"
        f" FROM import_posts s JOIN {POSTS} p ON p.platform = s.platform AND p.external_id = s.external_id"
        f" JOIN {AUTHORS} a ON a.id = p.author_id WHERE lower(a.handle) <> lower(s.handle)"
        " AND (a.handle LIKE 'did:%') = (s.handle LIKE 'did:%') LIMIT 1"
    )
    clash = cur.fetchone()
    _unbatched(cur)
    return clash


def _batched(cur) -> None:
    """Hash joins in BATCHED memory, nested loops off (they are what a join of this size is planned
    as when the planner expects an early match or misjudges a table; here every row meets a hash table)."""
    cur.execute(f"SET LOCAL enable_nestloop = off; SET LOCAL work_mem = '{BATCHED}'")


def _unbatched(cur) -> None:
    cur.execute(f"SET LOCAL enable_nestloop = DEFAULT; SET LOCAL work_mem = '{WORK_MEM}'")


def _stage_validated(cur, staged: Staged) -> int:
    """The Python validator's rows into the same tables the SQL checks fill."""
    cur.execute("CREATE TEMP TABLE import_users (username text, joined timestamptz) ON COMMIT DROP")
    cur.execute("CREATE TEMP TABLE import_posts (platform text, external_id text, handle text, first_seen timestamptz,"
                " url text) ON COMMIT DROP")
    cur.execute("CREATE TEMP TABLE import_votes (line int, voter_key text, platform_key text, post_key text,"
                " value smallint, created_at timestamptz, solicited boolean) ON COMMIT DROP")
    cur.copy_expert("COPY import_users (username, joined) FROM STDIN", tsv(staged.users.items()))
    posts = (
        (platform, pid, seen.handle, PLATFORMS[platform].canonical_url(seen.handle, pid), seen.first_seen.isoformat())
        for (platform, pid), seen in staged.posts.items()
    )
    cur.copy_expert("COPY import_posts (platform, external_id, handle, url, first_seen) FROM STDIN", tsv(posts))
    staged.votes.seek(0)
    cur.copy_expert("COPY import_votes (line, voter_key, platform_key, post_key, value, created_at, solicited) FROM STDIN",
                    staged.votes)
    # The staged rows hold stored forms already: each key is itself.
    cur.execute("CREATE TEMP TABLE import_voter_keys ON COMMIT DROP AS SELECT username AS key, username FROM import_users")
    cur.execute("CREATE TEMP TABLE import_post_keys ON COMMIT DROP AS"
                " SELECT platform AS platform_key, external_id AS post_key, platform, external_id FROM import_posts")
    _analyze_own(cur, "import_votes")
    return staged.rows


# ---------------------------------------------------------------------------------------------- merge


def _merge(cur, summary: Summary, show_progress: bool, stage, indexes: str, posts_aside: bool = False) -> None:
    steps = tqdm(total=7, desc="importing", unit="step", disable=not show_progress, leave=False)

    def step(name: str):
        steps.set_description(name)
        steps.update()
        return timed(summary, name, stage)

    _analyze_own(cur, "import_users", "import_posts")
    with step("users"):
        # '!' + random text is Django's unusable-password form: imported voters cannot log in
        # until they reset their password.
        cur.execute(
            f"INSERT INTO {USERS} (password, is_superuser, username, first_name, last_name, email,"
            " is_staff, is_active, date_joined)"
            " SELECT '!' || md5(random()::text || username), false, username, '', '', '', false, true, joined"
            " FROM import_users ORDER BY username ON CONFLICT (username) DO NOTHING"  # in its indexes' order
        )
        summary.users_new = cur.rowcount
        _analyze(cur, summary, USERS)
        # The id of each voter as the file writes it: the votes join this (text -> integer, planned on
        # figures of plain columns) rather than the users table.
        cur.execute(
            f"CREATE TEMP TABLE import_voter_ids ON COMMIT DROP AS SELECT k.key, u.id FROM import_voter_keys k"
            f" JOIN {USERS} u ON u.username = k.username"
        )
        _analyze_own(cur, "import_voter_ids")
        # Tables where every row the file refers to was inserted just now, by this transaction: nobody else
        # sees those rows, so none needs a lock against deletion (_bulk_foreign_keys).
        fresh = set()
        cur.execute("SELECT count(*) FROM import_users")
        if cur.fetchone()[0] == summary.users_new:
            fresh.add(USERS)

    with step("authors"):
        # Conflicts on the (lower(handle), platform) unique index: the first spelling seen wins.
        cur.execute(
            # Each spelling's first post by a hash first: the sort is then of spellings, not of posts.
            "WITH named AS MATERIALIZED (SELECT DISTINCT ON (platform, lower(handle)) platform, handle, first_seen"
            " FROM (SELECT platform, handle, min(first_seen) AS first_seen FROM import_posts GROUP BY platform, handle) h"
            " ORDER BY platform, lower(handle), first_seen),"
            f" ins AS (INSERT INTO {AUTHORS} (platform, handle, first_seen) SELECT * FROM named"
            " ON CONFLICT DO NOTHING RETURNING id)"
            " SELECT id, (SELECT count(*) FROM named) FROM ins"
        )
        inserted = cur.fetchall()
        new_authors = [pk for pk, _ in inserted]
        summary.authors_new = len(new_authors)
        if inserted and inserted[0][1] == len(inserted):
            fresh.add(AUTHORS)
        _analyze(cur, summary, AUTHORS)
        if new_authors:  # readers may hold "no such author"
            announce_authors_changed(new_authors if len(new_authors) <= ANNOUNCE_EACH else None)

    with step("posts"):
        bulk = _bulk_foreign_keys(cur, summary, fresh)
        # With the row triggers on, every row inserted leaves a foreign-key check for commit, and
        # PostgreSQL builds no index on a table that has such checks waiting: the indexes stay.
        restore = _set_indexes_aside(cur, summary, indexes, posts=posts_aside) if bulk else []
        if not bulk and indexes != "keep" and summary.rows >= REBUILD_MIN_ROWS:
            summary.indexes = "kept (the foreign keys are checked per row)"
        # Posts already there are left out by an anti-join, before the join to their authors and the sort
        # (a re-import names no new post). While this transaction holds the table exclusively (its indexes
        # set aside) nobody else inserts one meanwhile; otherwise ON CONFLICT skips those, whose
        # speculative insertion costs more a row (800k posts into a table with this unique index, psql:
        # 3.9 and 5.3 s with it, 3.2-3.5 s without).
        alone = _holds_exclusively(cur, POSTS)
        cur.execute(
            f"INSERT INTO {POSTS} (platform, external_id, author_id, url, first_seen)"
            f" SELECT s.platform, s.external_id, a.id, coalesce(s.url, {_url_sql('s')}), s.first_seen FROM import_posts s"
            f" JOIN {AUTHORS} a ON a.platform = s.platform AND lower(a.handle) = lower(s.handle)"
            f" WHERE NOT EXISTS (SELECT 1 FROM {POSTS} p WHERE p.platform = s.platform AND p.external_id = s.external_id)"
            # In the unique index's order: its entries go in one after another, not each at a random page.
            + " ORDER BY s.platform, s.external_id"
            + ("" if alone else " ON CONFLICT (platform, external_id) DO NOTHING")
        )
        summary.posts_new = cur.rowcount
        _analyze(cur, summary, POSTS)
        cur.execute(  # the id and author of each post as the file writes it (as import_voter_ids)
            f"CREATE TEMP TABLE import_post_ids ON COMMIT DROP AS SELECT k.platform_key, k.post_key, p.id, p.author_id"
            f" FROM import_post_keys k JOIN {POSTS} p ON p.platform = k.platform AND p.external_id = k.external_id"
        )
        _analyze_own(cur, "import_post_ids")
        # Validation looked before these inserts; a post registered since then with another author must
        # still refuse the file, not re-attribute votes. (When every post of the file is new, each one
        # was just given the author the file names: nothing to look for.)
        cur.execute("SELECT count(*) FROM import_posts")
        clash = None
        if cur.fetchone()[0] == summary.posts_new:
            fresh.add(POSTS)  # and their authors are the ones the file names, locked above or new
        else:
            clash = _post_of_another_author(cur)
        if clash:
            cur.execute("SELECT min(s.line) FROM import_votes s JOIN import_post_keys k ON k.platform_key = s.platform_key"
                        " AND k.post_key = s.post_key WHERE k.platform = %s AND k.external_id = %s", clash[:2])
            raise ImportRejected(
                [RowError(cur.fetchone()[0], f"post {clash[0]}/{clash[1]} was just registered as @{clash[2]}'s, not @{clash[3]}'s")], 1
            )

    with step("votes"):
        if bulk and POSTS not in fresh:
            _lock_posts(cur)
        cur.execute("CREATE TEMP TABLE import_touched (author_id bigint) ON COMMIT DROP")
        built = _insert_into_empty(cur, summary, restore)
        if built is None:
            _resolve_and_write(cur, summary, restore)
        else:
            restore = [sql for sql in restore if sql not in built]
        if bulk:
            cur.execute("SET LOCAL session_replication_role = origin")
    if restore:
        with step("indexes"):
            for sql in restore:
                cur.execute(sql)

    with step("outbox"):
        cur.execute(
            f"INSERT INTO {PENDING} (author_id, version, marked_at, attempts)"
            " SELECT DISTINCT author_id, 1, now(), 0 FROM import_touched"
            f" ON CONFLICT (author_id) DO UPDATE SET version = {PENDING}.version + 1"
        )
        summary.authors_marked = cur.rowcount
    steps.update()
    steps.close()


# The file's rows with their voter's and post's ids (u.id, p.id, p.author_id).
_KEYED_VOTES = (
    "import_votes s JOIN import_voter_ids u ON u.key = s.voter_key"
    " JOIN import_post_ids p ON p.platform_key = s.platform_key AND p.post_key = s.post_key"
)


def _resolve_and_write(cur, summary: Summary, restore: list[str]) -> None:
    """One row per (voter, post), the latest statement in the file winning, joined to the vote already
    there if any; then the changed votes updated and the new ones inserted, with their events.

    A row no newer than the vote already there can change nothing, nor can leaving it out make another
    row of its pair win that could (every row of the pair after it is newer, so not left out): only the
    other rows are sorted into one per pair and kept. A re-import keeps none. The pairs counted are
    those kept without a vote and every vote the file names, whether kept or not."""
    cur.execute(
        "CREATE TEMP TABLE import_resolved (voter_id integer, post_id bigint, author_id bigint, value smallint,"
        " created_at timestamptz, solicited boolean, vote_id bigint, old_value smallint, old_updated timestamptz)"
        " ON COMMIT DROP"
    )
    # The rows with the vote already there (in the same statement, so neither below searches). A file
    # about as large as the votes table (a re-import) is joined in BATCHED memory: hash joins that read
    # every vote, in batches that fit in the CPU's cache (10M votes were one hash table of 834 MB, probed
    # in random order), and the voters and posts in batches too. A file much smaller than the table keeps
    # the planner's choice (index lookups of the votes it names). The sort and count below want the
    # large work_mem, which is why they are a statement of their own.
    batched = summary.rows * 2 >= _estimated_rows(cur, VOTES)
    if batched:
        _batched(cur)
    cur.execute(
        "CREATE TEMP TABLE import_matched ON COMMIT DROP AS SELECT u.id AS voter_id, p.id AS post_id, p.author_id,"
        " s.value, s.created_at, s.solicited, s.line, v.id AS vote_id, v.value AS old_value, v.updated_at AS old_updated"
        f" FROM {_KEYED_VOTES} LEFT JOIN {VOTES} v ON v.voter_id = u.id AND v.post_id = p.id"
    )
    if batched:
        _unbatched(cur)
    # Read twice: sorted by the unique index's order, the ones that may change something; counted, the votes.
    resolved = _count(
        cur,
        "WITH kept AS (INSERT INTO import_resolved SELECT DISTINCT ON (voter_id, post_id) voter_id, post_id, author_id,"
        " value, created_at, solicited, vote_id, old_value, old_updated FROM import_matched"
        " WHERE vote_id IS NULL OR created_at > old_updated ORDER BY voter_id, post_id, created_at DESC, line DESC"
        " RETURNING vote_id)"
        " SELECT (SELECT count(*) FROM kept WHERE vote_id IS NULL) + (SELECT count(DISTINCT vote_id) FROM import_matched)",
    )
    cur.execute("DROP TABLE import_matched")
    summary.duplicate_rows = summary.rows - resolved
    _analyze_own(cur, "import_resolved")
    # Each statement writes its votes, their events and the authors they touch. A changed vote's
    # previous value is minus its new one (values are +-1); it keeps its own `solicited`.
    summary.votes_changed = _count(
        cur,
        f"WITH upd AS (UPDATE {VOTES} v SET value = r.value, reason = '', updated_at = r.created_at"
        " FROM import_resolved r WHERE v.id = r.vote_id AND r.old_value <> r.value AND r.created_at > r.old_updated"
        " AND v.value <> r.value AND r.created_at > v.updated_at"
        " RETURNING v.voter_id, v.post_id, v.author_id, v.value, v.updated_at AS at, v.solicited),"
        + _log_and_touch("upd", "changed", "-value"),
    )
    summary.votes_new = _count(
        cur,
        f"WITH ins AS (INSERT INTO {VOTES}"
        " (voter_id, post_id, author_id, value, reason, created_at, updated_at, solicited)"
        " SELECT voter_id, post_id, author_id, value, '', created_at, created_at, solicited FROM import_resolved"
        " WHERE vote_id IS NULL"
        # A vote cast on the site meanwhile is left alone; with the unique index set aside the table
        # is locked, so there is none.
        + ("" if restore else " ON CONFLICT (voter_id, post_id) DO NOTHING")
        + " RETURNING voter_id, post_id, author_id, value, created_at AS at, solicited),"
        + _log_and_touch("ins", "cast", "0"),
    )
    summary.votes_unchanged = resolved - summary.votes_new - summary.votes_changed


# The unique (voter, post) index among those set aside: rebuilding it is how the fast path below learns
# that the file held no repeated pair.
_PAIR_INDEX = re.compile(rf"CREATE UNIQUE INDEX \S+ ON (?:\S+\.)?{VOTES} USING btree \(voter_id, post_id\)\Z")


def _insert_into_empty(cur, summary: Summary, restore: list[str]) -> list[str] | None:
    """Into an empty votes table, locked, with the (voter, post) index set aside: every row of the file
    becomes a new vote as it is, with neither the sort that keeps one row per pair nor a search for votes
    already there, when the file repeats no pair. Rebuilding the unique index proves that it does not
    (it is rebuilt anyway); if it fails, a savepoint undoes the inserts and None sends the file the
    general way. Returns the index statements it ran; None when it did not apply."""
    pair = [sql for sql in restore if _PAIR_INDEX.match(sql)]
    if not pair:
        return None
    cur.execute(f"SELECT EXISTS (SELECT 1 FROM {VOTES})")
    if cur.fetchone()[0]:
        return None
    # Every vote id the INSERT below takes from the votes' (ascending) sequence lies between its last
    # value before and after (the events' ids below are offsets of them).
    low = _last_value(cur, VOTES)
    try:
        with transaction.atomic():
            # No RETURNING: the events and touched authors below read what is now the whole table.
            cur.execute(f"SET LOCAL work_mem = '{BATCHED}'")  # inside the savepoint, which undoes it too
            cur.execute(
                f"INSERT INTO {VOTES} (voter_id, post_id, author_id, value, reason, created_at, updated_at, solicited)"
                " SELECT u.id, p.id, p.author_id, s.value, '', s.created_at, s.created_at, s.solicited"
                f" FROM {_KEYED_VOTES}"
            )
            summary.votes_new = cur.rowcount
            cur.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            for sql in pair:
                cur.execute(sql)
    except IntegrityError:  # a repeated (voter, post) pair: the latest statement must win
        return None
    # Each event's id is its vote's plus one offset, from a block of the events' sequence taken in one
    # step, instead of a nextval() a row (2M events: 3.1-3.6 s with it, 2.3-2.9 s without; psql). The
    # table is locked (ACCESS EXCLUSIVE, with its indexes set aside), so nobody else inserts meanwhile,
    # and the events still come in their votes' order, which is the ids' (the primary key's build
    # finds them sorted).
    high = _last_value(cur, VOTES)
    events = _sequence(cur, EVENTS)
    cur.execute("SELECT nextval(%s)", [events])
    first = cur.fetchone()[0]
    cur.execute("SELECT setval(%s, %s)", [events, first + high - low])
    cur.execute(
        f"INSERT INTO {EVENTS} (id, voter_id, post_id, action, value, previous_value, reason, source, solicited, at)"
        f" SELECT id + %s, voter_id, post_id, 'cast', value, 0, '', 'import', solicited, created_at FROM {VOTES}",
        [first - low],
    )
    # Every post in the file got a vote, so its author is touched.
    cur.execute("INSERT INTO import_touched SELECT DISTINCT author_id FROM import_post_ids")
    summary.duplicate_rows = summary.rows - summary.votes_new
    summary.votes_changed = summary.votes_unchanged = 0
    return pair


def _sequence(cur, table: str) -> str:
    cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    return cur.fetchone()[0]


def _last_value(cur, table: str) -> int:
    """The last value the sequence of `table`'s id handed out (to any session; not rolled back)."""
    cur.execute(f"SELECT last_value FROM {_sequence(cur, table)}")
    return cur.fetchone()[0]


def _log_and_touch(source: str, action: str, previous: str) -> str:
    return (
        f" ev AS (INSERT INTO {EVENTS} (voter_id, post_id, action, value, previous_value, reason, source, solicited, at)"
        f" SELECT voter_id, post_id, '{action}', value, {previous}, '', 'import', solicited, at FROM {source}),"
        f" au AS (INSERT INTO import_touched SELECT DISTINCT author_id FROM {source})"
        f" SELECT count(*) FROM {source}"
    )


def _bulk_foreign_keys(cur, summary: Summary, fresh: set[str]) -> bool:
    """Stand in for the per-row foreign-key checks of the posts, votes and events about to be inserted
    (at commit, one query per row and key): lock every row they can reference, then turn row triggers
    off until the inserts are done. Users and the authors the file's posts name are locked here, before
    the posts go in; the posts and their authors by _lock_posts, once they exist. Not the tables in
    `fresh`, whose referenced rows this transaction inserted (invisible to others, so nobody deletes them).
    False (and nothing changed) when this role may not."""
    if not _try_set(cur, "session_replication_role", "replica"):
        return False
    cur.execute("SET LOCAL session_replication_role = origin")  # the locks first, with triggers as usual
    if USERS not in fresh:
        cur.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {USERS} u JOIN import_users s ON s.username = u.username"
            " FOR KEY SHARE OF u) locked"
        )
    if AUTHORS not in fresh:
        cur.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {AUTHORS} a JOIN import_posts s"
            " ON a.platform = s.platform AND lower(a.handle) = lower(s.handle) FOR KEY SHARE OF a) locked"
        )
    cur.execute("SET LOCAL session_replication_role = replica")
    summary.fk_checks = "bulk"
    return True


def _lock_posts(cur) -> None:
    """The posts the votes reference, and their authors (an existing post named by handle may belong to
    the author of its DID), FOR KEY SHARE."""
    cur.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {POSTS} p JOIN import_posts s"
        " ON s.platform = p.platform AND s.external_id = p.external_id FOR KEY SHARE OF p) locked"
    )
    cur.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {AUTHORS} a WHERE a.id IN (SELECT p.author_id FROM {POSTS} p"
        " JOIN import_posts s ON s.platform = p.platform AND s.external_id = p.external_id)"
        " FOR KEY SHARE OF a) locked"
    )


def _set_indexes_aside(cur, summary: Summary, indexes: str, posts: bool) -> list[str]:
    """Drop the indexes of votes and events when the import brings more votes than the table holds (or
    when asked), and then (if `posts`) those of posts too if it brings more posts than that table holds;
    returns the statements that rebuild them after the inserts.

    Each inserted row costs one entry in each index, written in random order with its own WAL record:
    most of a large import's time. Building them afresh sorts once. The price is an ACCESS EXCLUSIVE lock
    on the tables until commit (no vote is read or cast meanwhile), which is why "auto" does it only for
    an import at least as large as what is there: a new site taking in its history. The unique (voter,
    post) index goes too: under the lock nobody else inserts votes, the file's rows are one per pair
    already, and the pairs present are left out; rebuilding it checks all of that once more. The posts
    keep their primary key (votes reference it) and their unique (platform, post id), which the posts
    INSERT needs.
    """
    if indexes == "keep" or summary.rows < REBUILD_MIN_ROWS or not _larger_than(cur, indexes, VOTES, summary.rows):
        return []
    restore = _take_indexes(cur, summary, (VOTES, EVENTS))
    cur.execute("SELECT count(*) FROM import_posts")
    if restore and posts and _larger_than(cur, indexes, POSTS, cur.fetchone()[0]):
        restore += _take_indexes(cur, summary, (POSTS,), unique=False)
    if restore:
        # One parallel worker beside the leader (this machine has 2 cores): a 1M-row index took 485 ms
        # with 1, 522 ms with 2 (PostgreSQL's default), 752 ms with none (psql, load 1.7).
        cur.execute("SET LOCAL maintenance_work_mem = '1GB'; SET LOCAL max_parallel_maintenance_workers = 1")
        summary.indexes = f"rebuilt ({len(restore)})"
    return restore


def _larger_than(cur, indexes: str, table: str, coming: int) -> bool:
    """Whether the import brings more rows than `table` holds (always true for --indexes rebuild)."""
    if indexes != "auto":
        return True
    cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT %s) present", [coming])
    return cur.fetchone()[0] < coming


def _take_indexes(cur, summary: Summary, tables: tuple[str, ...], unique: bool = True) -> list[str]:
    """Lock `tables` and drop their indexes but those constraints other than a primary key need, a
    primary key a foreign key needs and, unless `unique`, unique ones; returns the statements that
    rebuild them. [] (nothing dropped) when the tables stay busy for LOCK_WAIT."""
    try:
        with transaction.atomic():  # not at any price: a long query on the tables keeps the indexes
            cur.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
            cur.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
            cur.execute("SET LOCAL lock_timeout = 0")
    except DatabaseError:
        summary.indexes = f"kept (the tables were busy for {LOCK_WAIT})"
        return []
    # The primary keys too, unless a foreign key needs them: an index entry per row, each its own WAL
    # record, is about as dear as the row (1M votes: 1.95 s into the table with its key, 1.07 s without
    # plus 0.36 s to build the key afterwards; measured in psql). Other constraints' indexes stay.
    cur.execute(
        "SELECT c.relname, i.indrelid::regclass::text, k.conname,"
        " coalesce(pg_get_constraintdef(k.oid), pg_get_indexdef(i.indexrelid))"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype <> 'f'"
        " WHERE i.indrelid = ANY(%s::regclass[]) AND (%s OR NOT i.indisunique)"
        " AND (k.oid IS NULL OR k.contype = 'p' AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid))"
        " ORDER BY c.relname",
        [list(tables), unique],
    )
    found = cur.fetchall()
    for name, table, constraint, _ in found:
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"' if constraint else f'DROP INDEX "{name}"')
    return [
        f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {definition}' if constraint else definition
        for _, table, constraint, definition in found
    ]


def _analyze(cur, summary: Summary, table: str) -> None:
    """Fresh planner figures (a sample) for a table a large import just grew: joins with it that follow
    would otherwise be planned for the table as it was, perhaps empty (a nested loop over a million rows)."""
    if summary.rows >= REBUILD_MIN_ROWS:
        cur.execute(f"ANALYZE {table}")


def _analyze_own(cur, *tables: str) -> None:
    """ANALYZE the import's own tables on a small sample (statistics target 10: 3,000 rows, not 30,000).
    Their plans need row counts and rough distinct counts, not fine distributions, and nothing reads
    these figures after the import (import_raw at 1M rows: 134-154 ms at the default target, 15-17 ms at
    10; psql, load 1.2). The site's tables keep the server's target (_analyze)."""
    cur.execute("SELECT current_setting('default_statistics_target')")
    previous = int(cur.fetchone()[0])
    cur.execute("SET LOCAL default_statistics_target = 10")
    for table in tables:
        cur.execute(f"ANALYZE {table}")
    cur.execute(f"SET LOCAL default_statistics_target = {previous}")


def _holds_exclusively(cur, table: str) -> bool:
    """Whether this transaction holds `table` in ACCESS EXCLUSIVE mode (nobody else reads or writes it)."""
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND relation = %s::regclass"
        " AND mode = 'AccessExclusiveLock' AND granted)",
        [table],
    )
    return cur.fetchone()[0]


def _estimated_rows(cur, table: str) -> float:
    """The planner's own estimate of a table's rows (from its statistics, or its size when it has none)."""
    cur.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {table}")
    return cur.fetchone()[0][0]["Plan"]["Plan Rows"]


def _count(cur, sql: str) -> int:
    cur.execute(sql)
    return cur.fetchone()[0]
