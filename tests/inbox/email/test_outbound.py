"""Outbound mail against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.email.ingest import email_ingest
from inbox.models import DeliveryStatus, OutboundEmail, Ticket
from inbox.outbound import outbound_sweep
from inbox.services import reply_create
from inbox.tasks import send_outbound_task, sweep_outbound_task
from notes.services import note_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(mailbox, make_mail):
    result = email_ingest(
        raw=make_mail(
            message_id="<q1@acme.example>",
            Cc="Dan <dan@acme.example>",
            body="Hello, my printer is on fire.\n\n-- \nCarol",
        ),
        mailbox=mailbox,
    )
    return Ticket.objects.get(pk=result.ticket_id)


def _reply(ticket, agent, django_capture_on_commit_callbacks, text="Please unplug it."):
    with django_capture_on_commit_callbacks(execute=True):
        return reply_create(ticket=ticket, author=agent, body_text=text)


def test_reply_is_mailed_with_thread_headers_token_and_quote(
    ticket, agent, smtp_server, django_capture_on_commit_callbacks
):
    message = _reply(ticket, agent, django_capture_on_commit_callbacks)

    [mail] = smtp_server.parsed()
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.sent_at is not None
    assert mail["Message-ID"] == message.message_id
    assert message.message_id.endswith("@tandem.example>")
    assert mail["In-Reply-To"] == "<q1@acme.example>"
    assert mail["References"] == "<q1@acme.example>"
    assert mail["Subject"] == f"Re: Printer on fire [#{ticket.number}]"
    assert mail["From"] == "support@tandem.example"
    assert mail["To"] == "carol@acme.example"
    assert mail["Cc"] == "dan@acme.example"
    assert "Auto-Submitted" not in mail
    body = mail.get_body(("plain",)).get_content()
    assert body.startswith("Please unplug it.")
    assert "> Hello, my printer is on fire." in body
    assert "wrote:" in body
    assert smtp_server.envelopes[0][1] == ["carol@acme.example", "dan@acme.example"]


def test_second_reply_references_the_whole_thread(
    ticket, agent, smtp_server, django_capture_on_commit_callbacks
):
    first = _reply(ticket, agent, django_capture_on_commit_callbacks)
    second = _reply(ticket, agent, django_capture_on_commit_callbacks, text="Any news?")
    mail = smtp_server.parsed()[1]
    assert mail["In-Reply-To"] == first.message_id
    assert mail["References"] == f"<q1@acme.example> {first.message_id}"
    assert mail["Message-ID"] == second.message_id


def test_internal_notes_never_reach_the_customer(
    ticket, agent, smtp_server, django_capture_on_commit_callbacks
):
    note_create(ticket=ticket, author=agent, body_markdown="SECRET: customer is about to churn")
    _reply(ticket, agent, django_capture_on_commit_callbacks)
    note_create(ticket=ticket, author=agent, body_markdown="SECRET two")
    _reply(ticket, agent, django_capture_on_commit_callbacks, text="Follow-up")
    for raw in smtp_server.messages:
        assert b"SECRET" not in raw
    for row in OutboundEmail.objects.all():
        assert "SECRET" not in row.body_text
        assert "SECRET" not in row.body_html


def test_failed_send_is_retried_with_backoff_by_the_sweep(
    ticket, agent, smtp_server, django_capture_on_commit_callbacks
):
    smtp_server.refuse_data = "451 4.3.0 Try again later"
    message = _reply(ticket, agent, django_capture_on_commit_callbacks)

    outbound = OutboundEmail.objects.get(ticket_message=message)
    message.refresh_from_db()
    assert outbound.status == DeliveryStatus.QUEUED
    assert outbound.attempts == 1
    assert "451" in outbound.last_error
    assert message.delivery_status == DeliveryStatus.QUEUED
    assert "Try again later" in message.delivery_error
    assert outbound.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert smtp_server.messages == []
    assert outbound_sweep() == []  # not due yet: backoff

    smtp_server.refuse_data = None
    assert outbound_sweep(now=outbound.next_attempt_at) == [outbound.pk]
    send_outbound_task(outbound.pk)
    send_outbound_task(outbound.pk)  # a duplicate task sends nothing more

    outbound.refresh_from_db()
    message.refresh_from_db()
    assert outbound.status == DeliveryStatus.SENT
    assert outbound.attempts == 2
    assert message.delivery_status == DeliveryStatus.SENT
    assert len(smtp_server.messages) == 1
    assert smtp_server.parsed()[0]["Message-ID"] == outbound.message_id  # same id on retry


def test_sweep_sends_rows_whose_task_was_lost(ticket, agent, smtp_server):
    # No on-commit callbacks run: as if Redis was down when the reply was saved.
    message = reply_create(ticket=ticket, author=agent, body_text="Lost task")
    assert smtp_server.messages == []
    assert sweep_outbound_task() == 1
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.SENT
    assert len(smtp_server.messages) == 1


def test_server_down_then_up(
    ticket, agent, settings, smtp_server, django_capture_on_commit_callbacks
):
    from .conftest import free_port

    settings.EMAIL_PORT = free_port()  # nothing listens there
    message = _reply(ticket, agent, django_capture_on_commit_callbacks)
    outbound = OutboundEmail.objects.get(ticket_message=message)
    assert outbound.status == DeliveryStatus.QUEUED
    assert "refused" in outbound.last_error.lower()
    settings.EMAIL_PORT = smtp_server.port
    for outbound_id in outbound_sweep(now=timezone.now() + timedelta(hours=1)):
        send_outbound_task(outbound_id)
    outbound.refresh_from_db()
    assert outbound.status == DeliveryStatus.SENT


def test_permanent_refusal_marks_failed_with_reason(
    ticket, agent, smtp_server, django_capture_on_commit_callbacks
):
    smtp_server.refuse_rcpt = "550 5.1.1 No such user"
    message = _reply(ticket, agent, django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.FAILED
    assert "No such user" in message.delivery_error
    assert outbound_sweep(now=timezone.now() + timedelta(days=1)) == []


def test_crlf_in_subject_cannot_inject_headers(
    ticket, agent, smtp_server, django_capture_on_commit_callbacks
):
    Ticket.objects.filter(pk=ticket.pk).update(subject="Hi\r\nBcc: evil@attacker.example")
    ticket.refresh_from_db()
    _reply(ticket, agent, django_capture_on_commit_callbacks)
    [mail] = smtp_server.parsed()
    assert "Bcc" not in mail
    assert mail["Subject"] == f"Re: Hi Bcc: evil@attacker.example [#{ticket.number}]"
    assert all("attacker" not in rcpt for rcpt in smtp_server.envelopes[0][1])


def test_sweep_picks_up_rows_written_without_a_next_attempt(smtp_server):
    row = OutboundEmail.objects.create(
        kind="notification",
        from_email="support@tandem.example",
        to=["alice@tandem.example"],
        subject="Mentioned",
        body_text="x",
        message_id="<n-null@tandem.example>",
    )
    assert outbound_sweep() == []  # a minute's grace for its own task
    assert outbound_sweep(now=timezone.now() + timedelta(minutes=2)) == [row.pk]


def test_files_of_the_reply_are_attached(ticket, agent, smtp_server):
    import hashlib

    from django.core.files.base import ContentFile

    from inbox.models import Attachment

    message = reply_create(ticket=ticket, author=agent, body_text="The manual is attached.")
    data = b"%PDF-1.4 manual"
    Attachment.objects.create(
        message=message,
        file=ContentFile(data, name="manual.pdf"),
        filename="Руководство.pdf",
        content_type="application/pdf",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    send_outbound_task(OutboundEmail.objects.get(ticket_message=message).pk)
    [mail] = smtp_server.parsed()
    [part] = list(mail.iter_attachments())
    assert part.get_filename() == "Руководство.pdf"
    assert part.get_content() == data


def test_auto_replies_are_not_quoted(ticket, mailbox, agent, make_mail, smtp_server):
    email_ingest(
        raw=make_mail(
            subject="Out of office",
            body="I am away until Monday.",
            In_Reply_To="<q1@acme.example>",
            Auto_Submitted="auto-replied",
        ),
        mailbox=mailbox,
    )
    message = reply_create(ticket=ticket, author=agent, body_text="Reply")
    send_outbound_task(OutboundEmail.objects.get(ticket_message=message).pk)
    body = smtp_server.parsed()[0].get_body(("plain",)).get_content()
    assert "I am away" not in body
    assert "> Hello, my printer is on fire." in body


def test_quote_is_trimmed_to_recent_messages_without_their_quotes_or_signatures(
    ticket, mailbox, agent, make_mail, smtp_server, django_capture_on_commit_callbacks
):
    from inbox.outbound import QUOTE_CHARS, QUOTE_MESSAGES

    _reply(ticket, agent, django_capture_on_commit_callbacks, text="Is it plugged in?")
    for body in (
        "Yes, it is plugged in.\n\n-- \nCarol, Head of Printers\n\n"
        "On Mon, 1 Dec 2026 at 10:00, Support wrote:\n> An old line we already sent",
        "word " * 600 + "END-OF-LONG-MAIL",
    ):
        email_ingest(raw=make_mail(body=body, In_Reply_To="<q1@acme.example>"), mailbox=mailbox)
    assert ticket.messages.count() == 4
    _reply(ticket, agent, django_capture_on_commit_callbacks, text="Please try another socket.")

    body = smtp_server.parsed()[-1].get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert body.startswith("Please try another socket.")
    assert body.count("wrote:") == QUOTE_MESSAGES == 3  # the oldest message is left out
    assert "printer is on fire" not in body
    # Newest first: the long mail, the customer's answer, our question.
    assert body.index("> word word") < body.index("> Yes, it is plugged in.")
    assert body.index("> Yes, it is plugged in.") < body.index("> Is it plugged in?")
    assert "END-OF-LONG-MAIL" not in body  # cut at QUOTE_CHARS
    long_quote = body[body.index("> word word") :].split("\n\n", 1)[0]
    assert long_quote.endswith(" […]")
    assert len(long_quote.replace("> ", "")) <= QUOTE_CHARS + len(" […]")
    assert "An old line we already sent" not in body  # their quote is not re-quoted
    assert "Head of Printers" not in body  # nor their signature
