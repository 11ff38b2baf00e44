"""Loops and noise (RFC 3834): auto-acknowledgements, autoresponders, bounces, rate limits."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from inbox.email.ingest import email_ingest
from inbox.models import DeliveryStatus, InboundStatus, Message, OutboundEmail, OutboundKind, Ticket
from inbox.services import reply_create

from .conftest import CORPUS

pytestmark = pytest.mark.django_db


@pytest.fixture
def ack_mailbox(mailbox):
    mailbox.auto_acknowledge = True
    mailbox.acknowledge_template = "Thanks, we got it."
    mailbox.save()
    return mailbox


def _ingest(raw, mailbox, capture):
    with capture(execute=True):
        return email_ingest(raw=raw, mailbox=mailbox)


def test_new_ticket_is_acknowledged_once_as_auto_replied(
    ack_mailbox, make_mail, smtp_server, django_capture_on_commit_callbacks
):
    first = _ingest(
        make_mail(message_id="<new1@acme.example>", Cc="dan@acme.example"),
        ack_mailbox,
        django_capture_on_commit_callbacks,
    )
    second = _ingest(
        make_mail(subject="Another thing"), ack_mailbox, django_capture_on_commit_callbacks
    )

    assert first.created_ticket
    assert second.created_ticket
    [ack] = smtp_server.parsed()  # one per sender per window (RFC 3834 section 2)
    ticket = Ticket.objects.get(pk=first.ticket_id)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert "Cc" not in ack  # the sender only
    assert smtp_server.envelopes[0][1] == ["carol@acme.example"]
    assert ack["In-Reply-To"] == "<new1@acme.example>"
    assert ack["Subject"] == f"Re: Printer on fire [#{ticket.number}]"
    assert "Thanks, we got it." in ack.get_content()
    assert "printer is on fire" not in ack.get_content()  # no backscatter of their text
    automatic = ticket.messages.get(is_automatic=True)
    assert automatic.delivery_status == DeliveryStatus.SENT
    ticket.refresh_from_db()
    assert ticket.first_response_at is None  # an acknowledgement is not a first response


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Auto_Submitted": "auto-generated"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"Precedence": "list"},
        {"X_Autoreply": "yes"},
        {"X_Autorespond": "Out of office"},
        {"List_Id": "<dev.lists.example>"},
        {"Return_Path": "<>"},
    ],
    ids=lambda h: next(iter(h.items()))[0] + "=" + next(iter(h.values())),
)
def test_machine_mail_gets_no_acknowledgement(
    ack_mailbox, make_mail, headers, django_capture_on_commit_callbacks
):
    result = _ingest(make_mail(**headers), ack_mailbox, django_capture_on_commit_callbacks)
    assert result.created_ticket  # still kept as a ticket: nothing is lost
    assert OutboundEmail.objects.count() == 0


def test_auto_submitted_no_is_a_person(ack_mailbox, make_mail, django_capture_on_commit_callbacks):
    _ingest(make_mail(Auto_Submitted="no"), ack_mailbox, django_capture_on_commit_callbacks)
    assert OutboundEmail.objects.filter(kind=OutboundKind.ACKNOWLEDGEMENT).count() == 1


def test_x_auto_response_suppress_is_not_a_machine_marker(
    ack_mailbox, make_mail, django_capture_on_commit_callbacks
):
    _ingest(
        make_mail(X_Auto_Response_Suppress="All"), ack_mailbox, django_capture_on_commit_callbacks
    )
    assert OutboundEmail.objects.count() == 1


def test_dsn_gets_no_acknowledgement(ack_mailbox, django_capture_on_commit_callbacks):
    raw = (CORPUS / "dsn_bounce_unknown.eml").read_bytes()
    _ingest(raw, ack_mailbox, django_capture_on_commit_callbacks)
    assert OutboundEmail.objects.count() == 0


@pytest.mark.parametrize(
    ("sender", "subject"),
    [
        ("Mail Delivery System <MAILER-DAEMON@mx.customer.example>", "Undelivered Mail"),
        ("postmaster@customer.example", "Delivery Status Notification (Failure)"),
        ("MAILER-DAEMON@mx.customer.example", "Your message to dan"),  # no bounce subject
    ],
)
def test_mailer_daemon_without_auto_submitted_or_null_return_path_gets_no_ack(
    ack_mailbox, make_mail, sender, subject, django_capture_on_commit_callbacks
):
    """Plenty of MTAs send bounces as plain mail: neither Auto-Submitted nor Return-Path <>."""
    raw = make_mail(
        sender=sender,
        subject=subject,
        body="I'm sorry to have to inform you that your message could not be delivered.",
    )
    headers = message_from_bytes(raw, policy=policy.default)
    assert "Auto-Submitted" not in headers
    assert "Return-Path" not in headers
    result = _ingest(raw, ack_mailbox, django_capture_on_commit_callbacks)
    assert result.created_ticket  # kept: nothing is lost
    assert Message.objects.get(pk=result.message_id).is_automatic
    assert OutboundEmail.objects.count() == 0


def test_autoresponder_ping_pong_100_rounds_sends_at_most_one_auto_message(
    ack_mailbox, make_mail, smtp_server, settings, django_capture_on_commit_callbacks
):
    """A naive autoresponder answers every mail it gets with a fresh mail, no headers."""
    settings.EMAIL_SENDER_TICKET_LIMIT = 10
    delivered = 0
    for round_number in range(100):
        inbox_mail = smtp_server.parsed()[delivered:]
        delivered += len(inbox_mail)
        in_reply_to = inbox_mail[-1]["Message-ID"] if inbox_mail and round_number % 2 else None
        raw = make_mail(
            sender="Bot <bot@autoresponder.example>",
            subject=f"I am away (round {round_number})",
            body="I am on holiday and will answer later.",
            **({"In_Reply_To": in_reply_to} if in_reply_to else {}),
        )
        _ingest(raw, ack_mailbox, django_capture_on_commit_callbacks)

    assert len(smtp_server.messages) <= 1
    assert OutboundEmail.objects.count() <= 1
    # The per-sender limit stops the bot at 10 tickets; the rest is kept on its newest one.
    assert Ticket.objects.filter(requester__email="bot@autoresponder.example").count() == 10
    assert Message.objects.filter(from_email="bot@autoresponder.example").count() == 100


def test_rate_limit_stops_a_runaway_sender_opening_hundreds_of_tickets(
    mailbox, make_mail, settings
):
    settings.EMAIL_SENDER_TICKET_LIMIT = 20
    for n in range(200):
        email_ingest(
            raw=make_mail(subject=f"Alert {n}", sender="cron@acme.example"), mailbox=mailbox
        )
    assert Ticket.objects.count() == 20
    assert Message.objects.count() == 200  # nothing dropped: the rest joined the newest ticket
    newest = Ticket.objects.order_by("-created_at", "-id").first()
    limited = newest.messages.exclude(parse_notes="")
    assert limited.count() == 180  # 20 tickets, the 180 later mails on the newest
    assert "sender rate limit" in limited.first().parse_notes
    # another sender is not affected
    other = email_ingest(raw=make_mail(sender="dave@acme.example"), mailbox=mailbox)
    assert other.created_ticket


def _dsn_for(message_id: str, recipient: str = "carol@acme.example") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>\r\n"
        "To: support@tandem.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-for-ours@mx.acme.example>\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="D"\r\n'
        "\r\n--D\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--D\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 mailbox unavailable\r\n"
        "--D\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nSubject: Re: Printer on fire\r\n--D--\r\n"
    ).encode()


def test_bounce_of_our_reply_marks_it_failed_and_leaves_the_ticket_alone(
    mailbox, make_mail, agent, smtp_server, django_capture_on_commit_callbacks
):
    ticket = Ticket.objects.get(pk=email_ingest(raw=make_mail(), mailbox=mailbox).ticket_id)
    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_create(ticket=ticket, author=agent, body_text="Unplug it")
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.SENT
    ticket.refresh_from_db()
    status, version = ticket.status, ticket.version

    result = email_ingest(raw=_dsn_for(reply.message_id), mailbox=mailbox)

    assert result.status == InboundStatus.IGNORED
    assert "5.1.1" in result.reason
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.FAILED
    assert "550 5.1.1 mailbox unavailable" in reply.delivery_error
    ticket.refresh_from_db()
    assert (ticket.status, ticket.version) == (status, version)
    assert ticket.messages.count() == 2
    assert Ticket.objects.count() == 1


def test_system_mail_is_marked_auto_generated(smtp_server, django_capture_on_commit_callbacks):
    from inbox.outbound import outbound_send

    row = OutboundEmail.objects.create(
        kind=OutboundKind.NOTIFICATION,
        from_email="support@tandem.example",
        to=["alice@tandem.example"],
        subject="You were mentioned",
        body_text="See #1",
        message_id="<notify-1@tandem.example>",
    )
    outbound_send(outbound_id=row.pk)
    [mail] = [message_from_bytes(raw, policy=policy.default) for raw in smtp_server.messages]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Auto-Response-Suppress"] == "All"


def test_reply_to_our_notification_message_id_is_ignored(mailbox, make_mail):
    OutboundEmail.objects.create(
        kind=OutboundKind.NOTIFICATION,
        from_email="support@tandem.example",
        to=["alice@tandem.example"],
        subject="x",
        body_text="x",
        message_id="<notify-2@tandem.example>",
    )
    echoed = email_ingest(raw=make_mail(message_id="<notify-2@tandem.example>"), mailbox=mailbox)
    assert echoed.status == InboundStatus.IGNORED
    assert Ticket.objects.count() == 0


def test_agent_reply_to_a_staff_notification_becomes_an_internal_note(
    mailbox, make_mail, agent, smtp_server, django_capture_on_commit_callbacks
):
    from notes.models import Note

    ticket = Ticket.objects.get(pk=email_ingest(raw=make_mail(), mailbox=mailbox).ticket_id)
    OutboundEmail.objects.create(
        kind=OutboundKind.NOTIFICATION,
        ticket=ticket,
        from_email="support@tandem.example",
        to=[agent.email],
        subject=f"You were mentioned on #{ticket.number}",
        body_text="Internal: the customer is about to churn",
        message_id="<notify-3@tandem.example>",
    )
    result = email_ingest(
        raw=make_mail(
            sender=agent.email,
            subject=f"Re: You were mentioned on #{ticket.number}",
            body="INTERNAL-ONLY: offer them a discount\n\nOn Mon, Tandem wrote:\n> Internal",
            In_Reply_To="<notify-3@tandem.example>",
        ),
        mailbox=mailbox,
    )
    assert result.status == InboundStatus.PROCESSED
    assert ticket.messages.count() == 1  # nothing public was added
    note = Note.objects.get(ticket=ticket)
    assert "INTERNAL-ONLY: offer them a discount" in note.body_markdown
    assert "> Internal" not in note.body_markdown
    assert note.author is None  # an unverified mail is not an agent action

    with django_capture_on_commit_callbacks(execute=True):
        reply_create(ticket=ticket, author=agent, body_text="Public answer")
    assert all(b"INTERNAL-ONLY" not in raw for raw in smtp_server.messages)
    assert len(smtp_server.messages) == 1


def test_read_receipt_joins_its_thread_quietly(mailbox, make_mail, agent, ack_mailbox):
    ticket = Ticket.objects.get(pk=email_ingest(raw=make_mail(), mailbox=mailbox).ticket_id)
    reply = reply_create(ticket=ticket, author=agent, body_text="Fixed")
    mdn = (
        "From: carol@acme.example\r\nTo: support@tandem.example\r\n"
        "Subject: Read: Printer on fire\r\nMessage-ID: <mdn-1@acme.example>\r\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="R"\r\n'
        "\r\n--R\r\nContent-Type: text/plain\r\n\r\nYour message was displayed.\r\n"
        "--R\r\nContent-Type: message/disposition-notification\r\n\r\n"
        "Final-Recipient: rfc822; carol@acme.example\r\n"
        f"Original-Message-ID: {reply.message_id}\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n--R--\r\n"
    ).encode()
    result = email_ingest(raw=mdn, mailbox=mailbox)
    assert result.ticket_id == ticket.pk
    assert Message.objects.get(pk=result.message_id).is_automatic
    assert Ticket.objects.count() == 1
