"""Rebuild account metrics from the raw tables: `recompute_metrics [--account ID ...]`."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from accounts.metrics import recompute_accounts
from accounts.models import Account

CHUNK_SIZE = 500


class Command(BaseCommand):
    help = "Recompute every account's metrics (or the given ones) from the raw tables."

    def add_arguments(self, parser):
        parser.add_argument(
            "--account",
            type=int,
            action="append",
            dest="accounts",
            metavar="ID",
            help="Only this account (repeatable).",
        )
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE)

    def handle(self, *args, accounts=None, chunk_size=CHUNK_SIZE, **options):
        queryset = Account.objects.order_by("pk")
        if accounts:
            queryset = queryset.filter(pk__in=accounts)
            missing = set(accounts) - set(queryset.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No account with id {', '.join(map(str, sorted(missing)))}.")
        ids = list(queryset.values_list("pk", flat=True))
        started = time.monotonic()
        written = 0
        for start in range(0, len(ids), chunk_size):
            written += recompute_accounts(account_ids=ids[start : start + chunk_size])
        elapsed = time.monotonic() - started
        self.stdout.write(f"Recomputed {written} account(s) in {elapsed:.2f}s.")
