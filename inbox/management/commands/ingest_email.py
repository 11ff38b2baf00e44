"""Ingest mail from a file, an mbox, a Maildir, a folder of .eml files, or stdin (`-`).

MTA piping: `| python manage.py ingest_email -`. Imports and replays: run it on the same
files again; the Message-ID (or a hash of the bytes) makes every mail count once.
"""

from __future__ import annotations

import mailbox as mailbox_lib
import sys
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from helpdesk.models import Mailbox
from inbox.email.ingest import email_ingest


def iter_raw(source: str) -> Iterator[tuple[str, bytes]]:
    """Yield (label, raw bytes) for each message at `source`."""
    if source == "-":
        raw = sys.stdin.buffer.read()
        if raw.startswith(b"From "):
            # An MTA pipe may prepend the mbox "From sender date" line: not part of the mail.
            raw = raw.partition(b"\n")[2]
        yield "stdin", raw
        return
    path = Path(source)
    if path.is_dir():
        if all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            box = mailbox_lib.Maildir(path, factory=None, create=False)
            for key in sorted(box.iterkeys()):
                yield f"{path.name}/{key}", box.get_bytes(key)
            return
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            yield str(item.relative_to(path)), item.read_bytes()
        return
    if not path.is_file():
        raise CommandError(f"No such file or folder: {source}")
    with path.open("rb") as handle:
        is_mbox = handle.read(5) == b"From "
    if is_mbox:
        box = mailbox_lib.mbox(path, factory=None, create=False)
        for key in box.iterkeys():
            yield f"{path.name}#{key}", box.get_bytes(key)
        return
    yield path.name, path.read_bytes()


class Command(BaseCommand):
    help = "Ingest e-mail from a .eml file, an mbox file, a Maildir folder or stdin (-)."

    def add_arguments(self, parser):
        parser.add_argument("source", help="path to .eml, mbox or Maildir; - for stdin")
        parser.add_argument("--mailbox", help="address of the Mailbox the mail was sent to")

    def handle(self, *args, **options):
        mailbox = None
        if options["mailbox"]:
            mailbox = Mailbox.objects.filter(email__iexact=options["mailbox"]).first()
            if mailbox is None:
                raise CommandError(f"No mailbox {options['mailbox']}")
        counts: dict[str, int] = {}
        for label, raw in iter_raw(options["source"]):
            result = email_ingest(raw=raw, mailbox=mailbox, source="file")
            key = "duplicate" if result.is_duplicate else result.status
            counts[key] = counts.get(key, 0) + 1
            if options["verbosity"] > 1:
                self.stdout.write(f"{label}: {key} {result.reason}".rstrip())
        summary = ", ".join(f"{n} {key}" for key, n in sorted(counts.items())) or "nothing"
        self.stdout.write(f"Ingested: {summary}")
