"""Import survey answers collected elsewhere: `import_survey_responses <csv>`.

Columns: external_id, email, kind (csat|ces|nps), score, responded_at (ISO 8601), comment
(optional), ticket (ticket number, optional). Idempotent on external_id; the contact is
found (or created and matched to its account by domain) from the e-mail.
"""

from __future__ import annotations

import csv
import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import SurveySource
from accounts.services import SurveyError, contact_get_or_create, survey_response_create

REQUIRED = {"external_id", "email", "kind", "score", "responded_at"}


class Command(BaseCommand):
    help = "Import external survey responses from CSV (idempotent on external_id)."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path: str, **options):
        from inbox.models import Ticket

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
                    email = row["email"].strip()
                    if not external_id or "@" not in email:
                        raise SurveyError("external_id and a valid email are required")
                    responded_at = dt.datetime.fromisoformat(row["responded_at"].strip())
                    if timezone.is_naive(responded_at):
                        responded_at = timezone.make_aware(responded_at)
                    ticket_id = None
                    if (row.get("ticket") or "").strip():
                        ticket_id = (
                            Ticket.objects.filter(number=int(row["ticket"]))
                            .values_list("pk", flat=True)
                            .first()
                        )
                        if ticket_id is None:
                            raise SurveyError(f"no ticket #{row['ticket']}")
                    _, was_created = survey_response_create(
                        kind=row["kind"].strip().lower(),
                        score=int(row["score"]),
                        contact=contact_get_or_create(email=email),
                        ticket_id=ticket_id,
                        responded_at=responded_at,
                        comment=(row.get("comment") or "").strip(),
                        source=SurveySource.IMPORT,
                        external_id=external_id,
                    )
                except (SurveyError, ValueError) as exc:
                    errors.append(f"line {line}: {exc}")
                    continue
                created += was_created
                skipped += not was_created
        for error in errors:
            self.stderr.write(error)
        self.stdout.write(
            f"Imported {created} survey response(s); {skipped} already present; "
            f"{len(errors)} error(s)."
        )
        if errors:
            raise CommandError(f"{len(errors)} row(s) were not imported.")
