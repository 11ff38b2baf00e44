"""`manage.py ingest_email`: .eml, mbox, Maildir, stdin; and the inbound sweep."""

from __future__ import annotations

import io
import mailbox as mailbox_lib
import sys

import pytest
from django.core.management import call_command

from inbox.email.ingest import inbound_store
from inbox.models import InboundEmail, InboundStatus, Ticket
from inbox.tasks import sweep_inbound_task

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = io.StringIO()
    call_command("ingest_email", *args, stdout=out)
    return out.getvalue()


def test_single_eml_file_attributes_the_mailbox_by_recipient(tmp_path, mailbox, make_mail):
    path = tmp_path / "one.eml"
    path.write_bytes(make_mail(subject="From a file"))
    assert "1 processed" in _run(str(path))
    assert "1 duplicate" in _run(str(path))
    ticket = Ticket.objects.get()
    assert ticket.mailbox == mailbox  # matched by To: support@tandem.example


def test_mbox_file(tmp_path, mailbox, make_mail):
    box = mailbox_lib.mbox(tmp_path / "export.mbox")
    for n in range(3):
        box.add(make_mail(subject=f"mbox {n}", message_id=f"<mbox{n}@acme.example>"))
    box.flush()
    assert "3 processed" in _run(str(tmp_path / "export.mbox"))
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
        "mbox 0",
        "mbox 1",
        "mbox 2",
    ]


def test_maildir_folder(tmp_path, mailbox, make_mail):
    box = mailbox_lib.Maildir(tmp_path / "Maildir", create=True)
    box.add(make_mail(subject="in new", message_id="<md1@acme.example>"))
    box.add(make_mail(subject="in new too", message_id="<md2@acme.example>"))
    assert "2 processed" in _run(str(tmp_path / "Maildir"))
    assert "2 duplicate" in _run(str(tmp_path / "Maildir"))


def test_stdin(monkeypatch, mailbox, make_mail):
    raw = make_mail(subject="Piped by the MTA")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    assert "1 processed" in _run("-", "--mailbox", "support@tandem.example")
    assert Ticket.objects.get().subject == "Piped by the MTA"


def test_missing_path_is_an_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        _run("/no/such/file.eml")


def test_sweep_processes_raw_mail_left_unparsed_by_a_crash(mailbox, make_mail):
    inbound, created = inbound_store(raw=make_mail(subject="Stuck"), mailbox=mailbox, source="imap")
    assert created
    InboundEmail.objects.filter(pk=inbound.pk).update(
        created_at=inbound.created_at.replace(year=inbound.created_at.year - 1)
    )
    assert sweep_inbound_task() == 1
    inbound.refresh_from_db()
    assert inbound.status == InboundStatus.PROCESSED
    assert inbound.ticket.subject == "Stuck"
    assert sweep_inbound_task() == 0


def test_same_mail_to_two_mailboxes_makes_one_ticket_and_one_ack(
    mailbox, make_mail, support_team, django_capture_on_commit_callbacks
):
    from inbox.email.ingest import email_ingest
    from inbox.models import OutboundEmail
    from tests.helpdesk.factories import MailboxFactory

    billing = MailboxFactory(
        email="billing@tandem.example", team=support_team, auto_acknowledge=True
    )
    mailbox.auto_acknowledge = True
    mailbox.save()
    raw = make_mail(to="support@tandem.example", Cc="billing@tandem.example")
    with django_capture_on_commit_callbacks(execute=True):
        email_ingest(raw=raw, mailbox=mailbox, source="imap")
        email_ingest(raw=raw, mailbox=billing, source="imap")
    ticket = Ticket.objects.get()  # documented: the first mailbox to fetch it owns it
    assert ticket.mailbox == mailbox
    assert OutboundEmail.objects.count() == 1
    assert not ticket.ccs.filter(
        email__in=["support@tandem.example", "billing@tandem.example"]
    ).exists()


def test_stdin_with_an_mbox_from_line_from_an_mta_pipe(monkeypatch, mailbox):
    raw = (
        b"From carol@acme.example Mon Nov  2 10:00:00 2026\n"
        b"From: carol@acme.example\nTo: support@tandem.example\nSubject: Piped\n\nHi\n"
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    _run("-")
    row = InboundEmail.objects.get()
    assert not bytes(row.raw).startswith(b"From carol")
    assert Ticket.objects.get().subject == "Piped"
