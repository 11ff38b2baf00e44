"""Print the HTTP inbound URL path and secret token of a mailbox, for the mail provider."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from helpdesk.models import Mailbox
from inbox.email.views import TOKEN_HEADER, mailbox_inbound_token


class Command(BaseCommand):
    help = "Show the URL and X-Tandem-Mail-Token header value for POSTing raw mail."

    def add_arguments(self, parser):
        parser.add_argument("mailbox", help="the mailbox address")

    def handle(self, *args, **options):
        mailbox = Mailbox.objects.filter(email__iexact=options["mailbox"]).first()
        if mailbox is None:
            raise CommandError(f"No mailbox {options['mailbox']}")
        token = mailbox_inbound_token(mailbox_id=mailbox.pk, email=mailbox.email)
        self.stdout.write(f"POST {reverse('mail-inbound', args=[mailbox.pk])}")
        self.stdout.write(f"{TOKEN_HEADER}: {token}")
