"""Poll IMAP mailboxes once (what the beat task does), for cron setups and debugging."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from helpdesk.models import Mailbox
from inbox.email.imap import mailbox_poll


class Command(BaseCommand):
    help = "Fetch new mail from every active IMAP mailbox (or one, with --mailbox ID)."

    def add_arguments(self, parser):
        parser.add_argument("--mailbox", type=int, help="poll only this mailbox id")

    def handle(self, *args, **options):
        mailboxes = Mailbox.objects.filter(is_active=True).exclude(imap_host="")
        if options["mailbox"]:
            mailboxes = mailboxes.filter(pk=options["mailbox"])
        for mailbox in mailboxes:
            result = mailbox_poll(mailbox_id=mailbox.pk)
            self.stdout.write(
                f"{mailbox.email}: fetched {result.fetched}, stored {result.stored}, "
                f"duplicates {result.duplicates}"
                + (f", error {result.error}" if result.error else "")
                + (" (skipped: another poller runs)" if result.skipped else "")
            )
