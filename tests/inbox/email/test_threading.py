"""Threading: Message-IDs first, subject token only from participants, reopen and follow-up."""

from __future__ import annotations

import pytest

from accounts.models import Contact
from inbox.email.ingest import email_ingest
from inbox.models import EventKind, InboundStatus, Message, Status, Ticket, TicketCC
from inbox.services import reply_create, ticket_set_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def first(mailbox, make_mail):
    """A ticket opened by Carol's mail, with an agent reply e-mailed back to her."""
    result = email_ingest(
        raw=make_mail(message_id="<first@acme.example>", Cc="dan@acme.example"), mailbox=mailbox
    )
    return Ticket.objects.get(pk=result.ticket_id)


def _reply(ticket, agent, text="Have you tried turning it off?"):
    return reply_create(ticket=ticket, author=agent, body_text=text)


def test_unknown_sender_becomes_contact_matched_to_account_and_ccs_are_kept(account, first):
    contact = Contact.objects.get(email="carol@acme.example")
    assert first.requester == contact
    assert first.account == account  # matched by the acme.example domain
    assert first.channel == "email"
    assert first.team == first.mailbox.team
    assert list(TicketCC.objects.filter(ticket=first).values_list("email", flat=True)) == [
        "dan@acme.example"
    ]
    message = first.messages.get()
    assert message.from_email == "carol@acme.example"
    assert message.message_id == "<first@acme.example>"


def test_reply_by_in_reply_to_our_message_joins_the_ticket(first, agent, mailbox, make_mail):
    ours = _reply(first, agent)
    result = email_ingest(
        raw=make_mail(subject="Re: something else entirely", In_Reply_To=ours.message_id),
        mailbox=mailbox,
    )
    assert result.ticket_id == first.pk
    assert not result.created_ticket
    assert first.messages.count() == 3


def test_any_references_entry_threads_not_only_the_first(first, mailbox, make_mail):
    refs = "<unknown-1@elsewhere.example> <first@acme.example> <unknown-2@elsewhere.example>"
    result = email_ingest(raw=make_mail(subject="no token here", References=refs), mailbox=mailbox)
    assert result.ticket_id == first.pk


def test_subject_token_from_requester_or_cc_joins(first, mailbox, make_mail):
    by_requester = email_ingest(raw=make_mail(subject=f"Re: [#{first.number}]"), mailbox=mailbox)
    by_cc = email_ingest(
        raw=make_mail(sender="Dan <DAN@acme.example>", subject=f"About [#{first.number}]"),
        mailbox=mailbox,
    )
    assert by_requester.ticket_id == first.pk
    assert by_cc.ticket_id == first.pk
    first.refresh_from_db()
    assert first.requester.email == "carol@acme.example"  # a CC's reply changes no requester


def test_stranger_quoting_a_ticket_number_gets_a_new_ticket(first, mailbox, make_mail):
    result = email_ingest(
        raw=make_mail(sender="mallory@evil.example", subject=f"Re: [#{first.number}] pay me"),
        mailbox=mailbox,
    )
    assert result.created_ticket
    assert result.ticket_id != first.pk
    assert first.messages.count() == 1
    assert not first.messages.filter(from_email="mallory@evil.example").exists()


def test_reply_to_solved_ticket_reopens_it(first, agent, mailbox, make_mail):
    ours = _reply(first, agent)
    ticket_set_status(ticket=first, actor=agent, status=Status.SOLVED)
    email_ingest(
        raw=make_mail(subject="Re: it burns again", In_Reply_To=ours.message_id), mailbox=mailbox
    )
    first.refresh_from_db()
    assert first.status == Status.OPEN
    assert first.reopen_count == 1
    assert first.events.filter(kind=EventKind.REOPENED).count() == 1


def test_reply_to_closed_ticket_opens_a_linked_follow_up(first, agent, mailbox, make_mail):
    ticket_set_status(ticket=first, actor=agent, status=Status.CLOSED)
    result = email_ingest(
        raw=make_mail(subject=f"Re: [#{first.number}]", In_Reply_To="<first@acme.example>"),
        mailbox=mailbox,
    )
    follow_up = Ticket.objects.get(pk=result.ticket_id)
    assert follow_up.pk != first.pk
    assert follow_up.follow_up_of == first
    assert follow_up.requester == first.requester
    first.refresh_from_db()
    assert first.status == Status.CLOSED
    assert first.events.filter(kind=EventKind.FOLLOW_UP).exists()


def test_auto_reply_on_a_solved_ticket_does_not_reopen_it(first, agent, mailbox, make_mail):
    ours = _reply(first, agent)
    ticket_set_status(ticket=first, actor=agent, status=Status.SOLVED)
    email_ingest(
        raw=make_mail(
            subject="Automatic reply: out of office",
            In_Reply_To=ours.message_id,
            Auto_Submitted="auto-replied",
        ),
        mailbox=mailbox,
    )
    before = first.last_customer_message_at
    first.refresh_from_db()
    assert first.status == Status.SOLVED
    assert first.reopen_count == 0
    assert first.last_customer_message_at == before
    auto = first.messages.get(subject="Automatic reply: out of office")
    assert auto.is_automatic


def test_same_message_id_twice_makes_one_message(mailbox, make_mail):
    raw = make_mail(message_id="<twice@acme.example>")
    one = email_ingest(raw=raw, mailbox=mailbox)
    two = email_ingest(raw=raw, mailbox=mailbox)
    three = email_ingest(raw=make_mail(message_id="<twice@acme.example>", body="other bytes"))
    assert not one.is_duplicate
    assert two.is_duplicate
    assert three.is_duplicate
    assert Message.objects.filter(message_id="<twice@acme.example>").count() == 1
    assert Ticket.objects.count() == 1


def test_mail_claiming_an_agent_is_a_customer_message_not_an_agent_action(
    agent, mailbox, make_mail
):
    agent.email = "alice@tandem-staff.example"
    agent.save()
    result = email_ingest(raw=make_mail(sender=agent.email), mailbox=mailbox)
    message = Message.objects.get(pk=result.message_id)
    assert message.author_user is None
    assert message.direction == "inbound"


def test_mail_from_our_own_address_is_ignored(mailbox, make_mail):
    result = email_ingest(raw=make_mail(sender="support@tandem.example"), mailbox=mailbox)
    assert result.status == InboundStatus.IGNORED
    assert Ticket.objects.count() == 0


def test_reply_to_header_is_not_an_identity(mailbox, make_mail):
    result = email_ingest(raw=make_mail(Reply_To="mallory@evil.example"), mailbox=mailbox)
    ticket = Ticket.objects.get(pk=result.ticket_id)
    assert ticket.requester.email == "carol@acme.example"
    assert not Contact.objects.filter(email="mallory@evil.example").exists()


def test_control_looking_headers_are_ignored(mailbox, make_mail, agent):
    result = email_ingest(
        raw=make_mail(
            X_Tandem_Priority="urgent",
            X_Helpdesk_Assignee=agent.username,
            X_Helpdesk_Status="closed",
        ),
        mailbox=mailbox,
    )
    ticket = Ticket.objects.get(pk=result.ticket_id)
    assert (ticket.priority, ticket.assignee, ticket.status) == ("normal", None, Status.NEW)


def test_deleted_ticket_is_not_reimported(mailbox, make_mail):
    raw = make_mail(message_id="<deleted@acme.example>")
    Ticket.objects.filter(pk=email_ingest(raw=raw, mailbox=mailbox).ticket_id).delete()
    again = email_ingest(raw=raw, mailbox=mailbox)
    assert again.is_duplicate
    assert Ticket.objects.count() == 0


def test_reply_to_a_merged_ticket_lands_on_the_surviving_one(first, mailbox, make_mail):
    survivor = Ticket.objects.get(
        pk=email_ingest(raw=make_mail(subject="Survivor"), mailbox=mailbox).ticket_id
    )
    Ticket.objects.filter(pk=first.pk).update(merged_into=survivor)
    result = email_ingest(raw=make_mail(In_Reply_To="<first@acme.example>"), mailbox=mailbox)
    assert result.ticket_id == survivor.pk


def test_oversized_mail_is_kept_raw_as_a_flagged_ticket(mailbox, make_mail, settings):
    settings.EMAIL_MAX_MESSAGE_BYTES = 1000
    raw = make_mail(body="z" * 5000)
    result = email_ingest(raw=raw, mailbox=mailbox)
    assert result.status == InboundStatus.FAILED
    ticket = Ticket.objects.get(pk=result.ticket_id)
    assert ticket.is_unparsed
    message = ticket.messages.get()
    assert "too large" in message.parse_notes
    assert bytes(message.raw_source) == raw


@pytest.fixture
def trusted_mta(settings):
    settings.EMAIL_TRUSTED_AUTHSERV_IDS = ["mx.tandem.example"]


@pytest.mark.parametrize(
    ("results", "joins"),
    [
        (["mx.tandem.example; dmarc=pass (p=reject) header.from=acme.example"], True),
        (["mx.tandem.example; dkim=pass header.d=mail.acme.example; spf=fail"], True),
        (["mx.tandem.example; dmarc=fail header.from=acme.example"], False),
        (["mx.tandem.example; dkim=pass header.d=evil.example"], False),
        (["evil.example; dmarc=pass header.from=acme.example"], False),  # not our MTA
        # ours on top says fail; a forged "pass" further down came with the mail
        (
            [
                "mx.tandem.example; dmarc=fail header.from=acme.example",
                "mx.tandem.example; dmarc=pass header.from=acme.example",
            ],
            False,
        ),
        ([], False),
    ],
)
def test_subject_token_needs_a_verified_sender_when_our_mta_is_configured(
    trusted_mta, first, mailbox, results, joins
):
    from email.message import EmailMessage

    mail = EmailMessage()
    for value in results:
        mail["Authentication-Results"] = value
    mail["From"] = "Carol Customer <carol@acme.example>"
    mail["To"] = "support@tandem.example"
    mail["Subject"] = f"Re: [#{first.number}]"
    mail["Message-ID"] = "<ar-test@acme.example>"
    mail.set_content("Spoofed or not?")
    result = email_ingest(raw=mail.as_bytes(), mailbox=mailbox)
    assert (result.ticket_id == first.pk) is joins
    message = Message.objects.get(pk=result.message_id)
    assert ("sender not verified" in message.parse_notes) is not joins
