"""Import revenue events from CSV, idempotent on external_id: `import_revenue <csv>`.

Columns: external_id, account (id, name or e-mail domain), kind, mrr_delta, occurred_on
(YYYY-MM-DD), note (optional). Each row is its own transaction; a row already imported
(same external_id) is skipped; bad rows are reported with their line number.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account, AccountDomain
from accounts.services import RevenueError, revenue_event_create

REQUIRED = {"external_id", "account", "kind", "mrr_delta", "occurred_on"}


def find_account(ref: str) -> Account | None:
    ref = ref.strip()
    if ref.isdigit():
        return Account.objects.filter(pk=int(ref)).first()
    by_domain = AccountDomain.objects.filter(domain=ref.lower()).select_related("account").first()
    if by_domain:
        return by_domain.account
    matches = list(Account.objects.filter(name__iexact=ref)[:2])
    return matches[0] if len(matches) == 1 else None


class Command(BaseCommand):
    help = "Import revenue events from a CSV file (idempotent on external_id)."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path: str, **options):
        try:
            handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        created = skipped = 0
        errors: list[str] = []
        with handle:
            reader = csv.DictReader(handle)
            missing = REQUIRED - set(reader.fieldnames or [])
            if missing:
                raise CommandError(f"Missing column(s): {', '.join(sorted(missing))}.")
            for line, row in enumerate(reader, start=2):
                try:
                    external_id = row["external_id"].strip()
                    if not external_id:
                        raise RevenueError("external_id is empty")
                    account = find_account(row["account"])
                    if account is None:
                        raise RevenueError(f"no single account matches {row['account']!r}")
                    _, was_created = revenue_event_create(
                        account=account,
                        kind=row["kind"].strip().lower(),
                        mrr_delta=Decimal(row["mrr_delta"].strip()),
                        occurred_on=dt.date.fromisoformat(row["occurred_on"].strip()),
                        external_id=external_id,
                        note=(row.get("note") or "").strip(),
                    )
                except (RevenueError, InvalidOperation, ValueError) as exc:
                    errors.append(f"line {line}: {exc}")
                    continue
                created += was_created
                skipped += not was_created
        for error in errors:
            self.stderr.write(error)
        self.stdout.write(
            f"Imported {created} revenue event(s); {skipped} already present; "
            f"{len(errors)} error(s)."
        )
        if errors:
            raise CommandError(f"{len(errors)} row(s) were not imported.")
