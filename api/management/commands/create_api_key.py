"""Issue an API key for a third-party app; the key is printed once and stored hashed."""

from django.core.management.base import BaseCommand
from rest_framework_api_key.models import APIKey


class Command(BaseCommand):
    help = "Create an API key for a third-party app (read-only, higher quota). Prints the key once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who the key is for, e.g. 'acme-dashboard'.")
        parser.add_argument("--expiry", help="Optional ISO date-time after which the key stops working.")

    def handle(self, *args, name: str, expiry: str | None = None, **options):
        from django.utils.dateparse import parse_datetime

        extra = {"expiry_date": parse_datetime(expiry)} if expiry else {}
        api_key, key = APIKey.objects.create_key(name=name, **extra)
        if options["verbosity"] >= 1:
            self.stderr.write(self.style.SUCCESS(f"Created key {api_key.prefix} for {name}. Store it now; it is not shown again:"))
        self.stdout.write(key)
