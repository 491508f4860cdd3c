"""`manage.py import_votes FILE.csv`: bulk-import votes in the interchange format.

    platform,post_id,author,voter,value,created_at,voter_joined_at[,solicited]

`solicited` (optional, 0 or 1; absent means 0) marks votes cast on posts Merit picked for the voter.
Every row is validated first; one bad row rejects the file (with line numbers)
and nothing is imported. Re-running the same file adds nothing. Semantics are
documented in votes/management/vote_import.py.
"""

from __future__ import annotations

import os
import time

from django.core.checks import Tags
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from votes.management.vote_import import ImportRejected, import_file


class Command(BaseCommand):
    help = (
        "Import votes from a CSV file (platform,post_id,author,voter,value,created_at,voter_joined_at"
        "[,solicited])."
    )
    # Every system check tagged but the URL ones: checking the URL configuration imports every view, and
    # with them the reputation engine and scipy (0.4 s of a 10 s million-row import), for a command that
    # serves no URL. (Untagged checks run only when all do; `manage.py check` runs everything.)
    requires_system_checks = [tag for name, tag in vars(Tags).items() if not name.startswith("_") and tag != Tags.urls]

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header row")
        parser.add_argument(
            "--recompute", action="store_true", help="run recompute_reputation after a successful import"
        )
        parser.add_argument(
            "--indexes", choices=["auto", "keep", "rebuild"], default="auto",
            help="PostgreSQL: rebuild the vote and event indexes after a large import instead of updating them "
            "row by row; this locks both tables until the import commits. auto (default): when the file holds "
            "more rows than the votes table; keep: never (the site keeps reading and voting meanwhile).",
        )

    def handle(self, *args, file: str, recompute: bool, indexes: str, verbosity: int, **options):
        if not os.path.isfile(file):
            raise CommandError(f"No such file: {file}")
        show = verbosity > 0
        started = time.perf_counter()

        def stage(name: str) -> None:
            if verbosity > 1:
                self.stdout.write(f"  {name}...")

        try:
            summary = import_file(file, show_progress=show, stage=stage, indexes=indexes)
        except ImportRejected as exc:
            raise CommandError(f"{file}: {exc.report()}") from None
        except (OSError, DatabaseError) as exc:
            raise not_imported(file, exc) from None
        elapsed = time.perf_counter() - started

        if show:
            rate = summary.rows / elapsed if elapsed else 0.0
            self.stdout.write(self.style.SUCCESS(
                f"Imported {file}: {summary.rows:,} rows in {elapsed:.1f}s ({rate:,.0f} rows/s)."
            ))
            self.stdout.write(
                f"  votes: {summary.votes_new:,} new, {summary.votes_changed:,} changed, "
                f"{summary.votes_unchanged:,} already present, {summary.duplicate_rows:,} duplicate rows in the file\n"
                f"  new voters: {summary.users_new:,}  new authors: {summary.authors_new:,}  "
                f"new posts: {summary.posts_new:,}\n"
                f"  authors marked for refresh: {summary.authors_marked:,}"
            )
            if verbosity > 1:
                steps = ", ".join(f"{k} {v:.1f}s" for k, v in summary.timings.items())
                self.stdout.write(f"  timings: {steps}")
                checked = {"sql": "in SQL over the COPY'd file", "python": "row by row in Python"}[summary.validated_by]
                why = f" ({summary.fallback})" if summary.fallback else ""
                self.stdout.write(
                    f"  checked {checked}{why}; foreign keys checked {summary.fk_checks}; indexes {summary.indexes}"
                )
        if recompute:
            call_command("recompute_reputation", verbosity=verbosity, stdout=self.stdout, stderr=self.stderr)
        elif show and summary.authors_marked:
            self.stdout.write(
                "Run `python manage.py recompute_reputation` to refresh every score now "
                "(otherwise the worker's periodic sweep refreshes the marked authors gradually)."
            )


def not_imported(file: str, exc: OSError | DatabaseError) -> CommandError:
    """A failure outside the rows themselves (the import is one transaction, so nothing was imported)."""
    if isinstance(exc, OSError):  # e.g. no permission to read the file
        return CommandError(f"{file}: cannot be read ({exc.strerror or exc}); nothing was imported.")
    return CommandError(f"{file}: the database refused the import ({str(exc).strip()}); nothing was imported.")
