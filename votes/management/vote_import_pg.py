"""PostgreSQL loader for `import_votes`: COPY into temporary tables, then set-based inserts.

Runs inside the caller's transaction; the temporary tables drop at commit.
"""

from __future__ import annotations

from django.db import connection
from tqdm import tqdm

from reputation.models import PendingRefresh
from votes.models import Author, Post, Vote, VoteEvent
from votes.platforms import get_platform

from .vote_import import ImportRejected, RowError, Staged, Summary, User, timed, tsv

USERS = User._meta.db_table
AUTHORS = Author._meta.db_table
POSTS = Post._meta.db_table
VOTES = Vote._meta.db_table
EVENTS = VoteEvent._meta.db_table
PENDING = PendingRefresh._meta.db_table

STAGING = [
    "CREATE TEMP TABLE import_users (username text, joined timestamptz) ON COMMIT DROP",
    (
        "CREATE TEMP TABLE import_posts (platform text, external_id text, handle text, url text,"
        " first_seen timestamptz) ON COMMIT DROP"
    ),
    (
        "CREATE TEMP TABLE import_votes (line int, voter text, platform text, external_id text, value smallint,"
        " created_at timestamptz, solicited boolean) ON COMMIT DROP"
    ),
    (
        "CREATE TEMP TABLE import_applied (voter_id bigint, post_id bigint, author_id bigint, value smallint,"
        " at timestamptz, action varchar(10), solicited boolean) ON COMMIT DROP"
    ),
]


def load_postgres(staged: Staged, summary: Summary, show_progress: bool, stage) -> None:
    with connection.cursor() as cur:
        # Large sorts and hash joins stay in memory; SET LOCAL ends with the transaction.
        cur.execute("SET LOCAL work_mem = '256MB'")
        for sql in STAGING:
            cur.execute(sql)

        with timed(summary, "copy", stage):
            cur.copy_expert("COPY import_users (username, joined) FROM STDIN", tsv(staged.users.items()))
            posts = (
                (platform, pid, seen.handle, get_platform(platform).canonical_url(seen.handle, pid), seen.first_seen.isoformat())
                for (platform, pid), seen in staged.posts.items()
            )
            cur.copy_expert("COPY import_posts (platform, external_id, handle, url, first_seen) FROM STDIN", tsv(posts))
            size = staged.votes.seek(0, 2)
            staged.votes.seek(0)
            reader = tqdm.wrapattr(staged.votes, "read", total=size, desc="staging", unit="B", unit_scale=True, disable=not show_progress, leave=False)
            with reader as f:
                cur.copy_expert(
                    "COPY import_votes (line, voter, platform, external_id, value, created_at, solicited) FROM STDIN", f
                )
            # Autovacuum never analyzes temporary tables; the planner needs their sizes.
            cur.execute("ANALYZE import_users; ANALYZE import_posts; ANALYZE import_votes")

        with timed(summary, "users", stage):
            # '!' + random text is Django's unusable-password form: imported voters cannot log in
            # until they reset their password.
            summary.users_new = _count(
                cur,
                f"INSERT INTO {USERS} (password, is_superuser, username, first_name, last_name, email,"
                " is_staff, is_active, date_joined)"
                " SELECT '!' || md5(random()::text || username), false, username, '', '', '', false, true, joined"
                " FROM import_users ON CONFLICT (username) DO NOTHING",
            )

        with timed(summary, "authors", stage):
            # Conflicts on the (lower(handle), platform) unique index: the first spelling seen wins.
            summary.authors_new = _count(
                cur,
                f"INSERT INTO {AUTHORS} (platform, handle, first_seen)"
                " SELECT DISTINCT ON (platform, lower(handle)) platform, handle, first_seen FROM import_posts"
                " ORDER BY platform, lower(handle), first_seen ON CONFLICT DO NOTHING",
            )

        with timed(summary, "posts", stage):
            summary.posts_new = _count(
                cur,
                f"INSERT INTO {POSTS} (platform, external_id, author_id, url, first_seen)"
                " SELECT s.platform, s.external_id, a.id, s.url, s.first_seen FROM import_posts s"
                f" JOIN {AUTHORS} a ON a.platform = s.platform AND lower(a.handle) = lower(s.handle)"
                " ON CONFLICT (platform, external_id) DO NOTHING",
            )
            # Validation checked the database before the transaction; a post registered since
            # then with another author must still refuse the file, not re-attribute votes.
            cur.execute(
                f"SELECT s.platform, s.external_id, a.handle, s.handle FROM import_posts s"
                f" JOIN {POSTS} p ON p.platform = s.platform AND p.external_id = s.external_id"
                f" JOIN {AUTHORS} a ON a.id = p.author_id WHERE lower(a.handle) <> lower(s.handle) LIMIT 1"
            )
            clash = cur.fetchone()
            if clash:
                seen = staged.posts[(clash[0], clash[1])]
                raise ImportRejected(
                    [RowError(seen.line, f"post {clash[0]}/{clash[1]} was just registered as @{clash[2]}'s, not @{clash[3]}'s")], 1
                )

        with timed(summary, "votes", stage):
            # One row per (voter, post): the latest statement in the file wins.
            cur.execute(
                "CREATE TEMP TABLE import_resolved ON COMMIT DROP AS"
                " SELECT DISTINCT ON (u.id, p.id) u.id AS voter_id, p.id AS post_id, p.author_id, s.value, s.created_at,"
                " s.solicited"
                f" FROM import_votes s JOIN {USERS} u ON u.username = s.voter"
                f" JOIN {POSTS} p ON p.platform = s.platform AND p.external_id = s.external_id"
                " ORDER BY u.id, p.id, s.created_at DESC, s.line DESC"
            )
            resolved = cur.rowcount
            summary.duplicate_rows = staged.rows - resolved
            cur.execute("ANALYZE import_resolved")
            # Values are +-1, so a changed vote's previous value is minus its new one.
            cur.execute(
                f"WITH upd AS (UPDATE {VOTES} v SET value = r.value, reason = '', updated_at = r.created_at"
                " FROM import_resolved r WHERE v.voter_id = r.voter_id AND v.post_id = r.post_id"
                " AND v.value <> r.value AND r.created_at > v.updated_at"
                " RETURNING v.voter_id, v.post_id, v.author_id, v.value, v.updated_at, v.solicited)"
                " INSERT INTO import_applied"
                " SELECT voter_id, post_id, author_id, value, updated_at, 'changed', solicited FROM upd"
            )
            summary.votes_changed = cur.rowcount
            cur.execute(
                f"WITH ins AS (INSERT INTO {VOTES}"
                " (voter_id, post_id, author_id, value, reason, created_at, updated_at, solicited)"
                " SELECT voter_id, post_id, author_id, value, '', created_at, created_at, solicited FROM import_resolved"
                " ON CONFLICT (voter_id, post_id) DO NOTHING"
                " RETURNING voter_id, post_id, author_id, value, created_at, solicited)"
                " INSERT INTO import_applied SELECT voter_id, post_id, author_id, value, created_at, 'cast', solicited FROM ins"
            )
            summary.votes_new = cur.rowcount
            summary.votes_unchanged = resolved - summary.votes_new - summary.votes_changed

        with timed(summary, "events", stage):
            cur.execute(
                f"INSERT INTO {EVENTS} (voter_id, post_id, action, value, previous_value, reason, source, solicited, at)"
                " SELECT voter_id, post_id, action, value, CASE WHEN action = 'cast' THEN 0 ELSE -value END,"
                " '', 'import', solicited, at FROM import_applied"
            )

        with timed(summary, "outbox", stage):
            cur.execute(
                f"INSERT INTO {PENDING} (author_id, version, marked_at, attempts)"
                " SELECT DISTINCT author_id, 1, now(), 0 FROM import_applied"
                f" ON CONFLICT (author_id) DO UPDATE SET version = {PENDING}.version + 1"
            )
            summary.authors_marked = cur.rowcount

        # ON COMMIT DROP covers a real commit; dropping now also frees them when the caller's
        # transaction lives on (an enclosing atomic block, a test) and the import runs again.
        cur.execute("DROP TABLE import_users, import_posts, import_votes, import_applied, import_resolved")


def _count(cur, insert_sql: str) -> int:
    cur.execute(insert_sql)
    return cur.rowcount
