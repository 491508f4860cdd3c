"""`manage.py export_reputation FILE.csv`: every author's reputation, best first.

Columns: platform,author,score,low,high,votes,voters,solicited_votes. `score` is
AuthorReputation.score, the value rankings and the API sort by; [low, high] is
its 90% interval. `solicited_votes` is how many of the author's votes were cast on
posts Merit picked for the voter ("Rate next"): the engine's count where its
explanation has one, else the votes table's. New columns only ever go last, so a
reader of the older columns keeps working. Pass `-` to write to standard output.
"""

from __future__ import annotations

import csv

from django.core.management.base import BaseCommand, CommandError
from django.db.models.fields.json import KT

from reputation.models import AuthorReputation
from votes.selectors import solicited_votes_fallback

COLUMNS = ["platform", "author", "score", "low", "high", "votes", "voters", "solicited_votes"]


class Command(BaseCommand):
    help = (
        "Export author reputations as CSV (platform,author,score,low,high,votes,voters,solicited_votes), "
        "highest score first."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="output CSV path, or - for standard output")

    def handle(self, *args, file: str, verbosity: int, **options):
        rows = (
            AuthorReputation.objects.order_by("-score", "author__platform", "author__handle")
            .annotate(
                explained=KT("explanation__solicited__votes"),
                counted=solicited_votes_fallback("author_id", "explanation"),
            )
            .values_list(
                "author__platform", "author__handle", "score", "low", "high", "upvotes", "downvotes", "voters",
                "explained", "counted",
            )
            .iterator(chunk_size=5000)
        )
        try:
            out = self.stdout if file == "-" else open(file, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot write {file}: {exc}") from None
        count = 0
        try:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(COLUMNS)
            for platform, handle, score, low, high, up, down, voters, explained, counted in rows:
                solicited = _whole(explained)
                writer.writerow([
                    platform, handle, f"{score:.3f}", f"{low:.3f}", f"{high:.3f}", up + down, voters,
                    solicited if solicited is not None else counted or 0,
                ])
                count += 1
        finally:
            if out is not self.stdout:
                out.close()
        if verbosity >= 1 and file != "-":
            self.stdout.write(self.style.SUCCESS(f"Wrote {count:,} authors to {file}."))


def _whole(text: str | None) -> int | None:
    """The engine's count as stored in the explanation's JSON (text here), or None if it has none."""
    try:
        return int(float(text)) if text is not None else None
    except ValueError:
        return None
