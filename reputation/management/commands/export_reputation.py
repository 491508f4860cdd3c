"""`manage.py export_reputation FILE.csv`: every author's reputation, best first.

Columns: platform,author,score,low,high,votes,voters. `score` is
AuthorReputation.score, the value rankings and the API sort by; [low, high] is
its 90% interval. Pass `-` to write to standard output.
"""

from __future__ import annotations

import csv

from django.core.management.base import BaseCommand, CommandError

from reputation.models import AuthorReputation

COLUMNS = ["platform", "author", "score", "low", "high", "votes", "voters"]


class Command(BaseCommand):
    help = "Export author reputations as CSV (platform,author,score,low,high,votes,voters), highest score first."

    def add_arguments(self, parser):
        parser.add_argument("file", help="output CSV path, or - for standard output")

    def handle(self, *args, file: str, verbosity: int, **options):
        rows = (
            AuthorReputation.objects.order_by("-score", "author__platform", "author__handle")
            .values_list("author__platform", "author__handle", "score", "low", "high", "upvotes", "downvotes", "voters")
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
            for platform, handle, score, low, high, up, down, voters in rows:
                writer.writerow([platform, handle, f"{score:.3f}", f"{low:.3f}", f"{high:.3f}", up + down, voters])
                count += 1
        finally:
            if out is not self.stdout:
                out.close()
        if verbosity >= 1 and file != "-":
            self.stdout.write(self.style.SUCCESS(f"Wrote {count:,} authors to {file}."))
