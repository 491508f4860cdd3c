"""Management commands: import_votes, recompute_reputation, export_reputation, seed_demo."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from reputation.models import AuthorReputation, PendingRefresh, ReputationSnapshot
from tests.conftest import make_user
from votes import services
from votes.models import Author, Post, Vote, VoteEvent

pytestmark = pytest.mark.django_db
User = get_user_model()
HEADER = "platform,post_id,author,voter,value,created_at,voter_joined_at"
GOOD = [
    "x,1790000000000000101,writer,carol,1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z",
    "x,1790000000000000101,writer,dave,-1,2025-01-11T10:00:00Z,2024-06-01T08:30:00Z",
    "x,1790000000000000102,Writer,carol,1,2025-01-12T10:00:00Z,2024-01-01T00:00:00Z",
    "bluesky,3kabcde12,someone.bsky.social,dave,1,2025-01-12T10:00:00+00:00,2024-06-01T08:30:00Z",
]


def write_csv(tmp_path, rows: list[str], name: str = "votes.csv") -> str:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return str(path)


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def counts() -> tuple[int, ...]:
    return (User.objects.count(), Author.objects.count(), Post.objects.count(), Vote.objects.count(),
            VoteEvent.objects.count(), PendingRefresh.objects.count())


def test_it_imports_votes_with_their_voters_authors_posts_and_events(tmp_path):
    output = run("import_votes", write_csv(tmp_path, GOOD))

    carol, dave = User.objects.get(username="carol"), User.objects.get(username="dave")
    assert carol.date_joined == datetime(2024, 1, 1, tzinfo=UTC)
    assert dave.date_joined == datetime(2024, 6, 1, 8, 30, tzinfo=UTC)
    assert not carol.has_usable_password()
    writer = Author.objects.get_by_handle("x", "WRITER")  # "writer" and "Writer" are one author
    assert Author.objects.count() == 2
    post = Post.objects.get(platform="x", external_id="1790000000000000101")
    assert post.author == writer and post.url == "https://x.com/writer/status/1790000000000000101"
    assert post.first_seen == datetime(2025, 1, 10, 10, tzinfo=UTC)
    vote = Vote.objects.get(voter=dave, post=post)
    assert (vote.value, vote.author_id, vote.created_at) == (-1, writer.pk, datetime(2025, 1, 11, 10, tzinfo=UTC))
    assert Vote.objects.count() == 4
    events = VoteEvent.objects.all()
    assert {(e.action, e.source, e.previous_value) for e in events} == {("cast", "import", 0)}
    assert events.count() == 4
    assert set(PendingRefresh.objects.values_list("author_id", flat=True)) == set(Author.objects.values_list("pk", flat=True))
    assert "4 new" in output and "new voters: 2" in output and "recompute_reputation" in output


def test_it_adds_nothing_when_the_same_file_is_imported_again(tmp_path):
    path = write_csv(tmp_path, GOOD)
    run("import_votes", path)
    before = counts()
    PendingRefresh.objects.all().delete()

    output = run("import_votes", path)

    assert counts()[:5] == before[:5]
    assert not PendingRefresh.objects.exists()  # nothing changed, nothing to refresh
    assert "0 new, 0 changed, 4 already present" in output


def test_a_newer_row_with_the_other_value_changes_the_vote_and_logs_it(tmp_path):
    run("import_votes", write_csv(tmp_path, GOOD[:1]))
    older = GOOD[0].replace(",1,2025-01-10", ",-1,2025-01-09")
    newer = GOOD[0].replace(",1,2025-01-10", ",-1,2025-01-20")

    run("import_votes", write_csv(tmp_path, [older], "older.csv"))
    assert Vote.objects.get().value == 1  # an older statement never overrides a newer one
    run("import_votes", write_csv(tmp_path, [newer], "newer.csv"))

    assert Vote.objects.get().value == -1
    changed = VoteEvent.objects.get(action="changed")
    assert (changed.value, changed.previous_value, changed.source) == (-1, 1, "import")


def test_within_one_file_the_latest_row_for_a_voter_and_post_wins(tmp_path):
    rows = [GOOD[0].replace(",1,2025-01-10", ",-1,2025-01-15"), GOOD[0]]

    output = run("import_votes", write_csv(tmp_path, rows))

    assert Vote.objects.get().value == -1
    assert "1 duplicate rows" in output


def test_a_file_with_broken_rows_names_their_lines_and_changes_nothing(tmp_path, post):
    make_user("erin")
    before = counts()
    rows = [
        GOOD[0],  # line 2: fine
        "x,1790000000000000103,writer,carol,7,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z",  # value 7
        "x,1790000000000000104,writer,carol,1,last tuesday,2024-01-01T00:00:00Z",  # bad time
        "myspace,123,writer,carol,1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z",  # unknown platform
        f"x,{post.external_id},impostor,carol,1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z",  # conflict with DB
        "x,1790000000000000105,writer,erin,1",  # missing fields
    ]

    with pytest.raises(CommandError) as exc:
        run("import_votes", write_csv(tmp_path, rows))

    message = str(exc.value)
    assert "5 bad row(s); nothing was imported" in message
    assert "line 3: value must be 1 or -1, not '7'" in message
    assert "line 4: created_at 'last tuesday' is not an ISO 8601 time" in message
    assert "line 5: unknown platform 'myspace'" in message
    assert f"line 6: post x/{post.external_id} already belongs to @writer, not @impostor" in message
    assert "line 7: expected 7 fields, found 5" in message
    assert "line 2" not in message
    assert counts() == before


def test_a_post_id_claimed_by_two_authors_in_the_file_is_rejected(tmp_path):
    rows = [GOOD[0], GOOD[1].replace(",writer,", ",someone_else,")]

    with pytest.raises(CommandError, match="line 3: post x/1790000000000000101 is attributed to @someone_else"):
        run("import_votes", write_csv(tmp_path, rows))
    assert not Vote.objects.exists()


def test_a_voter_cannot_import_votes_on_a_handle_they_linked(tmp_path):
    carol = make_user("carol")
    services.author_link(user=carol, platform="x", handle="writer")

    with pytest.raises(CommandError, match="line 2: carol linked @writer as their own account"):
        run("import_votes", write_csv(tmp_path, GOOD[:1]))


def test_a_missing_or_wrong_header_is_refused(tmp_path):
    path = tmp_path / "no_header.csv"
    path.write_text(GOOD[0] + "\n")
    with pytest.raises(CommandError, match="header must be exactly"):
        run("import_votes", str(path))


def test_a_file_without_the_solicited_column_imports_its_votes_as_unsolicited(tmp_path):
    run("import_votes", write_csv(tmp_path, GOOD))
    assert Vote.objects.count() == 4 and not Vote.objects.filter(solicited=True).exists()


def test_the_optional_solicited_column_takes_0_or_1_and_refuses_anything_else_by_line(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("\n".join([
        HEADER + ",solicited",
        GOOD[0] + ",1",  # line 2: fine
        GOOD[1] + ",yes",  # line 3
        GOOD[2],  # line 4: the column is missing
        GOOD[3] + ",",  # line 5: empty
    ]) + "\n", encoding="utf-8")
    before = counts()

    with pytest.raises(CommandError) as exc:
        run("import_votes", str(path))

    message = str(exc.value)
    assert "3 bad row(s); nothing was imported" in message
    assert "line 3: solicited must be 0 or 1, not 'yes'" in message
    assert "line 4: expected 8 fields, found 7" in message
    assert "line 5: solicited must be 0 or 1, not ''" in message
    assert counts() == before


def test_a_reimport_leaves_a_votes_solicited_flag_as_it_was_cast(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text(f"{HEADER},solicited\n{GOOD[0]},1\n", encoding="utf-8")
    run("import_votes", str(path))
    path.write_text(f"{HEADER},solicited\n{GOOD[0].replace(',1,2025-01-10T10', ',-1,2025-01-20T10')},0\n", encoding="utf-8")
    run("import_votes", str(path))
    vote = Vote.objects.get()
    assert (vote.value, vote.solicited) == (-1, True)  # changed, and still the vote Merit asked for
    assert list(VoteEvent.objects.order_by("pk").values_list("action", "solicited")) == [("cast", True), ("changed", True)]


def test_recompute_reputation_rebuilds_scores_and_reports_what_it_did(tmp_path):
    run("import_votes", write_csv(tmp_path, GOOD))
    output = run("recompute_reputation")

    assert "Recomputed 2 authors from 4 votes by 2 voters" in output
    assert "timings:" in output
    writer = Author.objects.get_by_handle("x", "writer")
    assert AuthorReputation.objects.get(author=writer).upvotes == 2


def test_export_reputation_writes_every_author_best_first(tmp_path):
    rows = [f"x,17900000000000002{i:02d},good_author,v{i},1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z" for i in range(6)]
    rows += [f"x,17900000000000003{i:02d},poor_author,v{i},-1,2025-01-10T10:00:00Z,2024-01-01T00:00:00Z" for i in range(6)]
    rows += GOOD[3:]
    run("import_votes", write_csv(tmp_path, rows), "--recompute")
    out_path = tmp_path / "reputation.csv"

    run("export_reputation", str(out_path))

    with open(out_path, newline="") as f:
        exported = list(csv.DictReader(f))
    # The original columns first, in their order (older readers keep working); new ones after.
    assert list(exported[0]) == ["platform", "author", "score", "low", "high", "votes", "voters", "solicited_votes"]
    assert [r["author"] for r in exported] == ["good_author", "someone.bsky.social", "poor_author"]
    scores = [float(r["score"]) for r in exported]
    assert scores == sorted(scores, reverse=True)
    good = AuthorReputation.objects.get(author__handle="good_author")
    assert exported[0] == {
        "platform": "x", "author": "good_author", "score": f"{good.score:.3f}", "low": f"{good.low:.3f}",
        "high": f"{good.high:.3f}", "votes": "6", "voters": "6", "solicited_votes": "0",
    }
    assert run("export_reputation", "-").splitlines()[0] == "platform,author,score,low,high,votes,voters,solicited_votes"


def test_seed_demo_builds_a_living_world_and_if_empty_leaves_it_alone():
    output = run("seed_demo")

    assert "Seeded" in output
    assert 35 <= Author.objects.count() <= 45 and 350 <= Post.objects.count() <= 450
    assert User.objects.count() >= 200 and Vote.objects.count() > 3000
    assert authenticate(username="demo", password="merit-demo-password") is not None
    assert Vote.objects.filter(voter__username="demo").count() >= 10
    assert Author.objects.filter(follower_count__gt=500_000).count() >= 3
    # History has shape: many back-dated days per author, computed from fewer votes than today.
    lena = Author.objects.get_by_handle("x", "dr_lena_k")
    history = list(ReputationSnapshot.objects.filter(author=lena).order_by("day"))
    assert len(history) >= 20 and history[0].votes < history[-1].votes
    # The ring's bought following does not buy reputation: the brigaded good author still ranks higher.
    guru = AuthorReputation.objects.get(author__handle="growth_guru")
    assert AuthorReputation.objects.get(author=lena).score > guru.score
    before = counts()

    assert "not seeding" in run("seed_demo", "--if-empty")
    assert counts() == before
    with pytest.raises(CommandError, match="already has posts"):
        run("seed_demo")


def test_a_file_that_is_not_utf8_is_refused_with_the_line_and_what_to_do(tmp_path):
    path = tmp_path / "latin1.csv"
    rows = [HEADER, GOOD[0], GOOD[1].replace("dave", "ren\u00e9e")]
    path.write_bytes("\n".join(rows).encode("latin-1") + b"\n")
    with pytest.raises(CommandError) as exc:
        run("import_votes", str(path))
    assert "line 3: byte 0xE9 (character 33) is not UTF-8 text; save the file as UTF-8" in str(exc.value)
    assert "nothing was imported" in str(exc.value) and not Vote.objects.exists()


def test_a_file_that_is_not_csv_is_refused_with_the_line(tmp_path):
    too_long = GOOD[1].replace("writer", '"' + "w" * 200_000 + '"')
    with pytest.raises(CommandError, match=r"line 3: not readable as CSV \(field larger than field limit"):
        run("import_votes", write_csv(tmp_path, [GOOD[0], too_long]))


def test_a_time_that_a_time_zone_moves_out_of_range_is_a_bad_row(tmp_path):
    row = GOOD[0].replace("2024-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00")
    with pytest.raises(CommandError, match="line 2: voter_joined_at '0001-01-01T00:00:00[+]01:00' is not an ISO 8601"):
        run("import_votes", write_csv(tmp_path, [row]))


def test_a_file_that_cannot_be_opened_is_a_message(tmp_path, monkeypatch):
    path = write_csv(tmp_path, GOOD)
    real_open = open

    def refuse(file, *args, **kwargs):
        if str(file) == path:
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(CommandError, match="cannot be read [(]Permission denied[)]; nothing was imported"):
        run("import_votes", path)


def test_bluesky_rows_may_name_the_author_by_did_and_x_rows_never_an_app_route(tmp_path):
    did = "bluesky,3kabcde99,did:plc:z72i7hdynmk6r22z27h6tvur,dave,1,2025-01-12T10:00:00Z,2024-06-01T08:30:00Z"
    run("import_votes", write_csv(tmp_path, [did]))
    assert Author.objects.get().handle == "did:plc:z72i7hdynmk6r22z27h6tvur"
    route = GOOD[0].replace(",writer,", ",home,")
    with pytest.raises(CommandError, match="line 2: 'home' is not a valid X handle"):
        run("import_votes", write_csv(tmp_path, [route], name="route.csv"))
