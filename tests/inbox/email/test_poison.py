"""Poison mail built at test time (too big to commit): bounded work, noted, nothing lost."""

from __future__ import annotations

import base64
import os
import time
from email.message import EmailMessage

import pytest
from django.core.files.storage import FileSystemStorage

from inbox.email.ingest import email_ingest
from inbox.models import InboundStatus, Ticket

pytestmark = pytest.mark.django_db

HEAD = (
    "From: pat@customer.example\r\nTo: support@tandem.example\r\n"
    "Message-ID: <{id}@customer.example>\r\nSubject: {id}\r\nMIME-Version: 1.0\r\n"
)


def _timed(raw: bytes, mailbox) -> tuple:
    started = time.monotonic()
    result = email_ingest(raw=raw, mailbox=mailbox)
    return result, time.monotonic() - started


def test_26_mb_attachment_over_the_default_limit(mailbox, settings):
    assert settings.ATTACHMENT_MAX_BYTES == 25 * 1024 * 1024
    blob = base64.encodebytes(os.urandom(26 * 1024 * 1024)).replace(b"\n", b"\r\n")
    raw = (
        HEAD.format(id="big").encode()
        + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        + b"Content-Type: text/plain\r\n\r\nThe dump.\r\n--B\r\n"
        + b'Content-Type: application/octet-stream; name="dump.bin"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + blob
        + b"--B--\r\n"
    )
    result, seconds = _timed(raw, mailbox)
    assert seconds < 60
    assert result.status == InboundStatus.PROCESSED
    assert "over the 26214400-byte limit" in result.reason
    assert len(raw) > 35_000_000


def test_600_attachments_are_capped(mailbox):
    parts = "".join(
        f'--B\r\nContent-Type: text/plain; name="p{i}.txt"\r\n'
        f'Content-Disposition: attachment; filename="p{i}.txt"\r\n\r\nx{i}\r\n'
        for i in range(600)
    )
    raw = (
        HEAD.format(id="many600")
        + 'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        + "--B\r\nContent-Type: text/plain\r\n\r\nMany.\r\n"
        + parts
        + "--B--\r\n"
    ).encode()
    result, seconds = _timed(raw, mailbox)
    assert seconds < 60
    assert result.status == InboundStatus.PROCESSED
    assert "more than 500 MIME parts" in result.reason


def test_100_level_nesting_and_endless_html(mailbox):
    inner = "Content-Type: text/plain\r\n\r\ndeep\r\n"
    for level in range(100):
        inner = (
            f'Content-Type: multipart/mixed; boundary="L{level}"\r\n\r\n'
            f"--L{level}\r\n{inner}--L{level}--\r\n"
        )
    deep, seconds = _timed((HEAD.format(id="deep100") + inner).encode(), mailbox)
    assert seconds < 5
    assert deep.status == InboundStatus.PROCESSED
    assert "nesting deeper than" in deep.reason

    html = "<div>" * 50_000 + "<table><tr><td>" * 5_000 + "text"
    raw = (HEAD.format(id="html") + "Content-Type: text/html\r\n\r\n" + html).encode()
    nested_html, seconds = _timed(raw, mailbox)
    assert seconds < 5
    assert nested_html.status == InboundStatus.PROCESSED
    assert "too deeply nested" in nested_html.reason


def test_an_error_while_processing_becomes_a_flagged_ticket_with_the_raw_kept(
    client, mailbox, agent, monkeypatch
):
    """Parsing succeeds; storing the attachment fails (disk full): the mail is still kept."""
    mail = EmailMessage()
    mail["From"] = "Pat <pat@customer.example>"
    mail["To"] = "support@tandem.example"
    mail["Subject"] = "Invoice attached"
    mail["Message-ID"] = "<disk-full@customer.example>"
    mail.set_content("Please see the invoice.")
    mail.add_attachment(
        b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="invoice.pdf"
    )
    raw = mail.as_bytes()
    real_save = FileSystemStorage._save
    saved = []

    def disk_full_once(self, name, content):  # the third-party storage call, not ours
        saved.append(name)
        if len(saved) == 1:
            raise OSError(28, "No space left on device")
        return real_save(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", disk_full_once)
    result = email_ingest(raw=raw, mailbox=mailbox)

    assert result.status == InboundStatus.FAILED
    assert result.reason.startswith("processing failed: OSError")
    [ticket] = Ticket.objects.all()  # the half-made ticket was rolled back
    assert ticket.pk == result.ticket_id
    assert ticket.is_unparsed
    message = ticket.messages.get()
    assert bytes(message.raw_source) == raw
    assert "No space left on device" in message.parse_notes
    [original] = message.attachments.all()
    assert original.filename == "original.eml"
    with original.file.open("rb") as handle:
        assert handle.read() == raw
    assert email_ingest(raw=raw, mailbox=mailbox).is_duplicate  # re-delivery adds nothing
    assert Ticket.objects.count() == 1
    client.force_login(agent)
    html = client.get(f"/tickets/{ticket.number}/").content.decode()
    assert "could not be parsed completely; the raw message is kept" in html
