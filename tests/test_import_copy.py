"""import_votes at the speed of COPY (issue 12.4): the PostgreSQL path checks the COPY'd file in SQL and
hands any file it cannot vouch for to the Python validator; both paths import the same things."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reputation.models import PendingRefresh
from tests.conftest import make_user
from votes import services
from votes.management import vote_import_pg
from votes.management.vote_import import ImportRejected, _parse_time, import_file
from votes.models import Author, ClaimStatus, HandleClaim, Post, Vote, VoteEvent

pytestmark = pytest.mark.django_db
needs_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")
User = get_user_model()
HEADER = "platform,post_id,author,voter,value,created_at,voter_joined_at"
# Every platform, a DID, a Mastodon instance in capitals, several time forms, a duplicate (voter, post).
MIXED = [
    "x,1790000000000000101,writer,carol,1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z",
    "x,1790000000000000101,writer,dave,-1,2025-01-11 10:00:00+01:00,2024-06-01",
    "x,1790000000000000102,Writer,carol,1,2025-01-12T10:00:00.25-0330,2024-01-01T00:00:00Z",
    "bluesky,3kabcde12,someone.bsky.social,dave,1,2025-01-12T10:00+00,2024-06-01",
    "bluesky,3kabcde99,did:plc:z72i7hdynmk6r22z27h6tvur,erin,-1,2025-02-28,2024-06-01T08:30:00Z",
    "mastodon,Mastodon.Social:112233,Ann@Mastodon.Social,erin,1,2025-03-01T00:00:00Z,2024-06-01T08:30:00Z",
    "mastodon,mastodon.social:112244,@ann@fosstodon.org,carol,-1,2024-02-29T23:59:59.999999Z,2024-01-01T00:00:00Z",
    "x,1790000000000000101,writer,carol,-1,2025-01-09T10:00:00Z,2024-01-01T00:00:00Z",  # older: loses
    "x,1790000000000000102,WRITER,erin,1,2025-01-01T10:00:00Z,2024-06-01T08:30:00Z",  # a post's 2nd spelling
]


def write(tmp_path, rows: list[str], header: str = HEADER, name: str = "votes.csv", end: str = "\n") -> str:
    path = tmp_path / name
    path.write_bytes((end.join([header, *rows]) + end).encode())
    return str(path)


def state() -> dict:
    """Everything an import writes, by natural keys (ids differ between runs)."""
    return {
        "users": sorted(User.objects.values_list("username", "date_joined", "is_active")),
        "authors": sorted(Author.objects.values_list("platform", "handle", "first_seen")),
        "posts": sorted(Post.objects.values_list("platform", "external_id", "author__handle", "url", "first_seen")),
        "votes": sorted(Vote.objects.values_list(
            "voter__username", "post__external_id", "author__handle", "value", "created_at", "updated_at", "solicited")),
        "events": sorted(VoteEvent.objects.values_list(
            "voter__username", "post__external_id", "action", "value", "previous_value", "source", "solicited", "at")),
        "pending": sorted(PendingRefresh.objects.values_list("author__handle", "version")),
    }


def wipe() -> None:
    for model in (VoteEvent, Vote, PendingRefresh, Post, Author):
        model.objects.all().delete()
    User.objects.all().delete()


def python_only(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise vote_import_pg.NotFast("asked to")

    monkeypatch.setattr(vote_import_pg, "_stage_file", refuse)


def test_a_good_file_is_checked_in_sql_on_postgresql_and_row_by_row_on_sqlite(tmp_path):
    summary = import_file(write(tmp_path, MIXED))

    assert summary.validated_by == ("sql" if connection.vendor == "postgresql" else "python")
    assert (summary.rows, summary.votes_new, summary.duplicate_rows) == (9, 8, 1)
    assert Vote.objects.get(voter__username="carol", post__external_id="1790000000000000101").value == 1
    assert Post.objects.get(external_id="mastodon.social:112233").url == "https://mastodon.social/@Ann/112233"
    assert Author.objects.filter(platform="mastodon", handle="Ann@mastodon.social").exists()


@needs_postgres
@pytest.mark.parametrize("quoting", ["plain", "quoted", "spaced", "crlf", "solicited"])
def test_the_sql_checks_import_exactly_what_the_python_validator_imports(tmp_path, monkeypatch, quoting):
    rows, header, end = MIXED, HEADER, "\n"
    if quoting == "quoted":  # every field in quotes, as R's write.csv and QUOTE_ALL writers do; a doubled quote
        rows = [",".join(f'"{v}"' for v in row.split(",")) for row in rows]
        header = ",".join(f'"{v}"' for v in HEADER.split(","))
    elif quoting == "spaced":
        rows = [",".join(f" {v} " for v in row.split(",")) for row in rows]
    elif quoting == "crlf":
        end = "\r\n"
    elif quoting == "solicited":
        header, rows = HEADER + ",solicited", [f"{row},{i % 2}" for i, row in enumerate(rows)]
    path = write(tmp_path, rows, header, end=end)

    fast = import_file(path)
    by_sql = state()
    wipe()
    python_only(monkeypatch)
    slow = import_file(path)

    assert fast.validated_by == "sql" and slow.validated_by == "python"
    assert state() == by_sql
    assert (fast.votes_new, fast.users_new, fast.authors_new, fast.posts_new, fast.authors_marked) == (
        slow.votes_new, slow.users_new, slow.authors_new, slow.posts_new, slow.authors_marked)


@needs_postgres
@pytest.mark.parametrize("rows, why", [
    (["x,1790000000000000101,wri\"ter\",carol,1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z"], "line 2"),
    ([MIXED[0], "", MIXED[1]], "COPY refused"),  # a blank line
    ([MIXED[0], "\\.", MIXED[1]], "COPY refused"),  # PostgreSQL's end-of-data line
    ([MIXED[0], '"x",1790000000000000109,"wri\nter",carol,1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z'], "COPY refused"),
    ([MIXED[0].replace("T10:00:00Z", "T10Z")], "line 2"),  # a form Python reads and PostgreSQL does not
    ([MIXED[0].replace("writer", "wr\x01ter")], "0x01"),
    ([MIXED[0].replace("carol", "carolé")], "voter"),  # a Unicode name: Django's rule is Python's \w
])
def test_a_file_the_sql_cannot_vouch_for_gets_the_python_validators_verdict(tmp_path, monkeypatch, rows, why):
    path = write(tmp_path, rows)
    try:
        import_file(path)
        fast: object = state()
    except ImportRejected as exc:
        fast = exc.report()
    wipe()
    python_only(monkeypatch)
    try:
        import_file(path)
        slow: object = state()
    except ImportRejected as exc:
        slow = exc.report()

    assert fast == slow


@needs_postgres
def test_why_a_file_went_to_the_python_validator_is_reported(tmp_path):
    summary = import_file(write(tmp_path, [MIXED[0].replace("T10:00:00Z", "T10Z")]))
    assert summary.validated_by == "python" and "T10Z" in summary.fallback
    assert Vote.objects.count() == 1


@needs_postgres
def test_every_time_form_the_sql_casts_means_what_python_reads_and_the_rest_are_left_to_python():
    """The one grammar written twice (vote_import_pg.TIME_FORMS): in each form PostgreSQL's value is
    Python's; forms and numbers outside it are left to the Python validator."""
    rests = [""] + [
        f"{sep}23:59{sec}{zone}"
        for sep in "T "
        for sec in ["", ":59", ":59.5", ":59.123456"]
        for zone in ["", "Z", "+14", "-0930", "+05:45", "-00:00"]
    ]
    days = ["2024-02-29", "1000-01-01", "8999-12-31", "2025-06-01"]
    outside = [("2023-02-29", ""), ("2024-13-01", "T00:00Z"), ("2024-04-31", ""), ("2024-01-01", "T24:00"),
               ("2024-01-01", "T23:60"), ("2024-01-01", "T23:59:60"), ("2024-01-01", "T10:00+15:00"),
               ("2024-01-01", "T10:00+01:60"), ("0999-12-31", ""), ("9999-12-31", "T23:00-01:00"),
               ("2024-01-01", "t10:00"), ("2024-01-01", "T10:00:00.1234567"), ("2024-01-01", "T10"),
               ("2024-01-01", "T10Z"), ("20240101", "T1000"), ("2024-01-01", "T10:00 "), ("２０２４-01-01", "")]
    with connection.cursor() as cur:
        cur.execute("SET LOCAL TimeZone = 'UTC'")
        for day in days:
            for rest in rests:
                assert vote_import_pg.time_form_ok(day, rest), day + rest
                cur.execute("SELECT %s::timestamptz", [day + rest])
                assert cur.fetchone()[0] == _parse_time(day + rest), day + rest
    for day, rest in outside:
        assert not vote_import_pg.time_form_ok(day, rest), day + rest


@needs_postgres
def test_a_time_written_as_postgresql_prints_it_is_in_the_time_forms_and_others_are_not_taken_for_one():
    """vote_import_pg._as_printed lets a row's created_at skip the per-date and per-time check: every
    text it accepts must be in TIME_FORMS with PostgreSQL's value Python's, and no other form passes."""
    times = ["1000-01-01 00:00:00", "8999-12-31 23:59:59.999999", "2024-02-29 12:00:00.5", "2025-06-01 00:00:00.123",
             "2025-06-01 09:08:07", "2025-06-01 23:59:59.000001", "1970-01-01 00:00:00"]
    others = ["2025-06-01T09:08:07+00:00", "2025-06-01 09:08:07Z", "2025-06-01T09:08:07", "2025-06-01T09:08:07.500Z",
              "2025-06-01T09:08Z", "2025-06-01", "2024-01-01T24:00:00Z", "2024-01-01T23:59:60Z", "0999-12-31T00:00:00Z",
              "9000-01-01T00:00:00Z", "2025-06-01T09:08:07.000000Z", "2025-06-01t09:08:07Z"]
    with connection.cursor() as cur:
        cur.execute("SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO'")
        printed = []
        for value in times:  # PostgreSQL's own printing of each time, in the form the check takes
            cur.execute("SELECT left(replace(%s::timestamptz::text, ' ', 'T'), -3) || 'Z'", [value])
            printed.append(cur.fetchone()[0])
        for text in printed + others:
            cur.execute("SELECT %s::timestamptz", [text])
            value = cur.fetchone()[0]
            cur.execute(f"SELECT {vote_import_pg._as_printed('%s', '%s::timestamptz')}", [text] * 4)
            if cur.fetchone()[0]:
                assert text in printed, text
                assert vote_import_pg.time_form_ok(text[:10], text[10:]) and _parse_time(text) == value, text
            else:
                assert text in others, text


@needs_postgres
def test_a_file_of_printed_times_runs_no_per_date_check_and_an_odd_time_among_them_still_gets_pythons_verdict(
    tmp_path, monkeypatch
):
    printed = [row for row in MIXED if row.split(",")[5].endswith(":00Z")]
    with CaptureQueriesContext(connection) as queries:
        summary = import_file(write(tmp_path, printed))
    assert summary.validated_by == "sql" and Vote.objects.count() == len(printed) - 1  # one repeated pair
    assert not [q for q in queries.captured_queries if "GROUPING SETS ((day), (rest))" in q["sql"]]
    wipe()
    # 24:00 PostgreSQL reads (as the next midnight), Python does not: the rows go to the Python validator.
    odd = [*printed, MIXED[4].replace("2025-02-28", "2025-02-28T24:00:00Z")]
    with pytest.raises(ImportRejected, match=f"line {len(odd) + 1}: created_at '2025-02-28T24:00:00Z' is not an ISO 8601"):
        import_file(write(tmp_path, odd, name="odd.csv"))
    assert not Vote.objects.exists()


@needs_postgres
def test_foreign_keys_are_checked_in_bulk_and_the_row_triggers_come_back_on(tmp_path):
    summary = import_file(write(tmp_path, MIXED))
    with connection.cursor() as cur:
        cur.execute("SHOW session_replication_role")
        assert cur.fetchone()[0] == "origin"
    assert summary.fk_checks == "bulk"


@needs_postgres
def test_without_the_right_to_skip_row_triggers_the_foreign_keys_are_checked_per_row(tmp_path, monkeypatch):
    real = vote_import_pg._try_set
    monkeypatch.setattr(vote_import_pg, "_try_set", lambda cur, name, value: name != "session_replication_role"
                        and real(cur, name, value))
    monkeypatch.setattr(vote_import_pg, "REBUILD_MIN_ROWS", 5)  # large: but no index is built on a table
    summary = import_file(write(tmp_path, MIXED))  # with checks waiting for commit, so they stay
    assert summary.fk_checks == "per row" and Vote.objects.count() == 8
    assert summary.indexes == "kept (the foreign keys are checked per row)"


def locked_tables(path: str) -> list[str]:
    """The tables whose rows an import locked FOR KEY SHARE (vote_import_pg._bulk_foreign_keys, _lock_posts)."""
    with CaptureQueriesContext(connection) as queries:
        summary = import_file(path)
    assert summary.fk_checks == "bulk"
    kinds = ("auth_user u", "votes_author a JOIN", "votes_post p", "votes_author a WHERE")
    return [k for k in kinds for q in queries.captured_queries if "FOR KEY SHARE" in q["sql"]
            and f"(SELECT 1 FROM {k}" in q["sql"]]


@needs_postgres
def test_rows_the_import_inserted_itself_are_not_locked_and_rows_already_there_are(tmp_path):
    # Into an empty database every user, author and post the file names is new: invisible to anyone
    # else until commit, so none is locked.
    assert locked_tables(write(tmp_path, MIXED)) == []
    assert Vote.objects.count() == 8
    wipe()
    # One voter, one author and one post there already: each of those tables is locked again.
    carol = make_user("carol")
    writer = services.author_get_or_create(platform="x", handle="writer")
    Post.objects.create(platform="x", external_id="1790000000000000101", author=writer,
                        url="https://x.com/writer/status/1790000000000000101", first_seen=timezone.now())
    assert locked_tables(write(tmp_path, MIXED, name="again.csv")) == [
        "auth_user u", "votes_author a JOIN", "votes_post p", "votes_author a WHERE"]
    assert Vote.objects.filter(voter=carol).count() == 3 and Post.objects.filter(author=writer).count() == 2
    # Only the users table holds someone named in the file: only it is locked.
    wipe()
    make_user("dave")
    assert locked_tables(write(tmp_path, MIXED, name="third.csv")) == ["auth_user u"]


def index_definitions() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename IN ('votes_vote', 'votes_voteevent', 'votes_post') ORDER BY 1")
        return [row[0] for row in cur.fetchall()]


@needs_postgres
def test_a_large_import_into_a_small_table_rebuilds_the_indexes_as_they_were(tmp_path, monkeypatch):
    monkeypatch.setattr(vote_import_pg, "REBUILD_MIN_ROWS", 5)
    before = index_definitions()
    summary = import_file(write(tmp_path, MIXED))
    assert summary.indexes == "rebuilt (8)" and index_definitions() == before  # primary keys too
    assert Vote.objects.count() == 8 and VoteEvent.objects.count() == 8

    again = import_file(write(tmp_path, MIXED, name="again.csv"), indexes="rebuild")  # present pairs left out
    assert again.indexes.startswith("rebuilt") and (again.votes_new, again.votes_unchanged) == (0, 8)
    assert Vote.objects.count() == 8 and index_definitions() == before


@needs_postgres
@pytest.mark.parametrize("rows", [MIXED[:7] + MIXED[8:], MIXED], ids=["no repeated pair", "a repeated pair"])
def test_the_votes_join_runs_in_small_hash_batches_and_the_import_gets_its_memory_back(tmp_path, monkeypatch, rows):
    # Into an empty table the votes INSERT joins in hash batches that fit in the CPU's cache (BATCHED);
    # what follows it (and the general path, when a repeated pair undid that INSERT) has WORK_MEM again.
    monkeypatch.setattr(vote_import_pg, "REBUILD_MIN_ROWS", 5)
    during = []

    def wrapper(execute, sql, params, many, context):
        if sql.startswith(f"INSERT INTO {Vote._meta.db_table} ") and "import_voter_ids" in sql:
            context["cursor"].execute("SHOW work_mem")
            during.append(context["cursor"].fetchone()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        summary = import_file(write(tmp_path, rows))
    assert during[0] == vote_import_pg.BATCHED
    assert summary.votes_new == 8 and Vote.objects.count() == 8
    with connection.cursor() as cur:  # SET LOCAL lasts until the test's transaction ends
        cur.execute("SHOW work_mem")
        assert cur.fetchone()[0] == vote_import_pg.WORK_MEM


@needs_postgres
@pytest.mark.django_db(transaction=True)  # the event below committed: no foreign-key check left pending
def test_a_first_imports_events_take_ids_from_one_block_of_their_sequence_in_their_votes_order(tmp_path, monkeypatch):
    # Into an empty votes table the events' ids are their votes' plus one offset (no nextval() a row):
    # distinct, above any event there (the votes table empty, the event log not), in the votes' order,
    # and the sequence moves past them.
    monkeypatch.setattr(vote_import_pg, "REBUILD_MIN_ROWS", 5)
    earlier = VoteEvent.objects.create(voter=make_user("early"), post=Post.objects.create(
        platform="x", external_id="1790000000000000999", author=Author.objects.create(platform="x", handle="early")),
        action="cast", value=1, previous_value=0, reason="", source="site", at=timezone.now())

    summary = import_file(write(tmp_path, MIXED[:7] + MIXED[8:]))

    assert summary.indexes.startswith("rebuilt") and summary.votes_new == 8
    events = list(VoteEvent.objects.filter(source="import").order_by("id").values_list("id", "voter_id", "post_id"))
    votes = list(Vote.objects.order_by("id").values_list("voter_id", "post_id"))
    assert [(v, p) for _, v, p in events] == votes and len({i for i, _, _ in events}) == 8
    assert min(i for i, _, _ in events) > earlier.id
    later = VoteEvent.objects.create(voter=earlier.voter, post=earlier.post, action="cast", value=1,
                                     previous_value=0, reason="", source="site", at=timezone.now())
    assert later.id > max(i for i, _, _ in events)


@needs_postgres
def test_a_re_import_joins_the_votes_there_in_small_hash_batches_and_a_small_file_does_not(tmp_path, monkeypatch):
    # A file about as large as the votes table finds their votes by hash joins in BATCHED memory; one
    # much smaller keeps the planner's choice; both get WORK_MEM back for the sort after. (The planner's
    # estimate for a table of 8 votes never analyzed is its ten-page minimum: set to what it holds.)
    path = write(tmp_path, MIXED)
    import_file(path)
    assert vote_import_pg._estimated_rows(connection.cursor(), Vote._meta.db_table) > 0
    monkeypatch.setattr(vote_import_pg, "_estimated_rows", lambda cur, table: Vote.objects.count())
    during = []

    def wrapper(execute, sql, params, many, context):
        if sql.startswith("CREATE TEMP TABLE import_matched"):
            context["cursor"].execute("SHOW work_mem")
            during.append(context["cursor"].fetchone()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        again = import_file(path)
        monkeypatch.setattr(vote_import_pg, "_estimated_rows", lambda cur, table: 1_000_000)
        small = import_file(write(tmp_path, MIXED[:2], name="small.csv"))
    assert during == [vote_import_pg.BATCHED, vote_import_pg.WORK_MEM]
    assert (again.votes_new, again.votes_unchanged, again.duplicate_rows) == (0, 8, 1)
    assert (small.votes_new, small.votes_unchanged) == (0, 2)
    with connection.cursor() as cur:
        cur.execute("SHOW work_mem")
        assert cur.fetchone()[0] == vote_import_pg.WORK_MEM


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_that_is_its_own_transaction_sets_the_posts_indexes_aside_too(tmp_path, monkeypatch):
    # Inside a caller's transaction (every other test here) only the votes' and events' 8 are: that
    # transaction may have deleted posts, and PostgreSQL builds no index on them until it commits.
    monkeypatch.setattr(vote_import_pg, "REBUILD_MIN_ROWS", 5)
    before = index_definitions()
    summary = import_file(write(tmp_path, MIXED))
    assert summary.indexes == "rebuilt (10)" and index_definitions() == before
    assert Post.objects.count() == 6 and Vote.objects.count() == 8


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_posts_already_there_are_left_out_alike_with_the_posts_table_held_alone_or_not(tmp_path, monkeypatch):
    # With the posts' indexes set aside the table is this import's alone and its INSERT leaves the posts
    # already there out by an anti-join; with them kept, by ON CONFLICT. Both import the same.
    monkeypatch.setattr(vote_import_pg, "REBUILD_MIN_ROWS", 5)
    results = []
    for indexes in ("auto", "keep"):
        seen = datetime(2025, 1, 1, tzinfo=UTC)
        writer = Author.objects.create(platform="x", handle="writer")
        Author.objects.filter(pk=writer.pk).update(first_seen=seen)  # not now(): the two runs compare alike
        Post.objects.create(platform="x", external_id="1790000000000000101", author=writer,
                            url="https://x.com/writer/status/1790000000000000101")
        Post.objects.update(first_seen=seen)
        summary = import_file(write(tmp_path, MIXED, name=f"{indexes}.csv"), indexes=indexes)
        results.append((summary.indexes, summary.posts_new, state()))
        wipe()
    (aside, new_aside, by_anti_join), (kept, new_kept, by_on_conflict) = results
    assert aside == "rebuilt (10)" and kept == "kept"
    assert new_aside == new_kept == 5
    for table, rows in by_anti_join.items():
        assert rows == by_on_conflict[table], table


@needs_postgres
def test_a_first_import_without_repeated_pairs_skips_the_one_row_per_pair_step_and_imports_the_same(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(vote_import_pg, "REBUILD_MIN_ROWS", 5)
    distinct = MIXED[:7] + MIXED[8:]  # without the older repeat of (carol, ...101)
    import_file(write(tmp_path, distinct), indexes="keep")
    expected = state()
    wipe()
    general = []
    resolve = vote_import_pg._resolve_and_write
    monkeypatch.setattr(vote_import_pg, "_resolve_and_write", lambda *a: general.append(1) or resolve(*a))
    before = index_definitions()

    summary = import_file(write(tmp_path, distinct, name="fast.csv"))

    assert not general and summary.indexes.startswith("rebuilt") and index_definitions() == before
    assert (summary.votes_new, summary.duplicate_rows, summary.votes_unchanged) == (8, 0, 0)
    assert state() == expected
    wipe()
    # A repeated pair makes the unique index refuse: the inserts are undone and the latest row wins.
    repeated = import_file(write(tmp_path, MIXED, name="repeated.csv"))
    assert general and (repeated.votes_new, repeated.duplicate_rows) == (8, 1)
    assert Vote.objects.count() == VoteEvent.objects.count() == 8 and index_definitions() == before
    assert Vote.objects.get(voter__username="carol", post__external_id="1790000000000000101").value == 1


@needs_postgres
def test_auto_keeps_the_indexes_when_the_table_holds_more_than_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(vote_import_pg, "REBUILD_MIN_ROWS", 5)
    import_file(write(tmp_path, MIXED))
    assert import_file(write(tmp_path, MIXED[:6], name="small.csv")).indexes == "kept"
    assert import_file(write(tmp_path, MIXED, name="keep.csv"), indexes="keep").indexes == "kept"


def test_a_few_thousand_rows_import_once_and_a_rerun_adds_nothing(tmp_path):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        f"x,{1790000000000000000 + i % 700},author_{i % 70},voter{i % 300},{1 if i % 3 else -1},"
        f"{(start + timedelta(minutes=i)).isoformat()},2024-01-01T00:00:00Z"
        for i in range(3000)
    ]
    path = write(tmp_path, rows)
    first = import_file(path)
    before = state()
    PendingRefresh.objects.all().delete()

    again = import_file(path)

    distinct = len({(i % 300, i % 700) for i in range(3000)})
    assert (first.votes_new, first.duplicate_rows) == (distinct, 3000 - distinct)
    assert (again.votes_new, again.votes_changed, again.votes_unchanged, again.authors_marked) == (0, 0, distinct, 0)
    assert {k: v for k, v in state().items() if k != "pending"} == {k: v for k, v in before.items() if k != "pending"}
    assert not PendingRefresh.objects.exists()


def test_a_later_file_changes_a_vote_only_where_its_newest_row_for_the_pair_says_otherwise(tmp_path):
    import_file(write(tmp_path, MIXED[:3]))  # carol +1 on 101 and on 102, dave -1 on 101
    later = [
        "x,1790000000000000101,writer,carol,-1,2025-01-12T10:00:00Z,2024-01-01T00:00:00Z",  # newer, opposite,
        "x,1790000000000000101,writer,carol,1,2025-01-13T10:00:00Z,2024-01-01T00:00:00Z",  # but the newest agrees
        "x,1790000000000000101,writer,dave,1,2025-01-05T10:00:00Z,2024-06-01",  # older than dave's vote
        "x,1790000000000000101,writer,erin,1,2025-01-14T10:00:00Z,2024-06-01T08:30:00Z",  # a new vote
        "x,1790000000000000102,writer,carol,-1,2025-02-01T10:00:00Z,2024-01-01T00:00:00Z",  # newer, opposite
    ]
    summary = import_file(write(tmp_path, later, name="later.csv"))

    assert (summary.votes_new, summary.votes_changed, summary.votes_unchanged, summary.duplicate_rows) == (1, 1, 2, 1)
    votes = {(v.voter.username, v.post.external_id[-3:]): (v.value, v.updated_at.day)
             for v in Vote.objects.select_related("voter", "post")}
    assert votes == {("carol", "101"): (1, 10), ("dave", "101"): (-1, 11), ("carol", "102"): (-1, 1),
                     ("erin", "101"): (1, 14)}
    assert VoteEvent.objects.filter(action="changed").count() == 1


def test_within_a_file_the_latest_of_two_rows_for_a_pair_wins_and_two_authors_for_a_post_refuse_it(tmp_path):
    rows = [MIXED[0], MIXED[0].replace(",1,2025-01-10", ",-1,2025-01-15")]
    assert import_file(write(tmp_path, rows)).duplicate_rows == 1
    assert Vote.objects.get().value == -1

    clash = [MIXED[0].replace("carol", "zoe"), MIXED[1].replace(",writer,", ",someone_else,")]
    with pytest.raises(ImportRejected, match="line 3: post x/1790000000000000101 is attributed to @someone_else"):
        import_file(write(tmp_path, clash, name="clash.csv"))
    assert not User.objects.filter(username="zoe").exists()


def test_a_voter_waiting_for_the_proof_of_a_claim_cannot_import_votes_on_that_handle(tmp_path):
    carol = make_user("carol")
    writer = services.author_get_or_create(platform="x", handle="writer")
    HandleClaim.objects.create(author=writer, user=carol, code="c0de", status=ClaimStatus.PENDING,
                               created_at=timezone.now(), expires_at=timezone.now() + timedelta(days=1))

    with pytest.raises(ImportRejected, match="line 2: carol linked @writer as their own account"):
        import_file(write(tmp_path, MIXED[:1]))
    assert not Vote.objects.exists()


def test_validate_then_load_still_imports_a_file_on_either_database(tmp_path):
    from votes.management.vote_import import load, validate

    staged = validate(write(tmp_path, MIXED))
    with staged.votes:
        summary = load(staged)
    assert (summary.votes_new, summary.duplicate_rows) == (8, 1) and VoteEvent.objects.count() == 8


def test_a_stored_post_id_is_valid_exactly_when_the_written_one_is():
    """The SQL path checks post ids in their stored form (vote_import_pg._check_conflicts)."""
    from votes.platforms import PLATFORMS

    written = ["Mastodon.Social:112233", "mastodon.SOCIAL:1", "Bad_Host.social:1", "x.y:12345678901234567890123",
               "1790000000000000101", "3kabcde12", "3KABCDE12", "abc"]
    for spec in PLATFORMS.values():
        for post_id in written:
            assert bool(spec.post_id.match(post_id)) == bool(spec.post_id.match(spec.clean_post_id(post_id))), post_id


@needs_postgres
def test_a_post_registered_for_another_author_after_the_checks_still_refuses_the_file_with_its_line(
    tmp_path, monkeypatch
):
    # The posts step looks again (_post_of_another_author) for a post registered after the SQL checks;
    # that look runs as hash joins with its own settings, and the import gets its own back after it.
    original = vote_import_pg._stage_file

    def stage_then_register(cur, *args, **kwargs):
        rows = original(cur, *args, **kwargs)
        other = Author.objects.create(platform="x", handle="impostor")
        Post.objects.create(platform="x", external_id="1790000000000000102", author=other,
                            url="https://x.com/impostor/status/1790000000000000102")
        return rows

    monkeypatch.setattr(vote_import_pg, "_stage_file", stage_then_register)
    with pytest.raises(ImportRejected, match="line 4: post x/1790000000000000102 was just registered as @impostor's"):
        import_file(write(tmp_path, MIXED))
    assert not Vote.objects.exists()

    monkeypatch.setattr(vote_import_pg, "_stage_file", original)
    first, again = import_file(write(tmp_path, MIXED)), import_file(write(tmp_path, MIXED))
    assert (first.votes_new, again.votes_new, again.posts_new, again.votes_unchanged) == (8, 0, 0, 8)
    with connection.cursor() as cur:  # SET LOCAL lasts until the test's transaction ends
        cur.execute("SHOW work_mem")
        assert cur.fetchone()[0] == vote_import_pg.WORK_MEM
        cur.execute("SHOW enable_nestloop")
        assert cur.fetchone()[0] == "on"
