"""helpdesk.db: the plain-SQL INSERT and UPDATE of the ingest hot path."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from helpdesk.db import row_insert, row_insert_with_children, row_update
from inbox.models import InboundEmail, InboundStatus, Message, Ticket, TicketEvent
from tests.accounts.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _inbound(**kwargs) -> InboundEmail:
    return InboundEmail(
        message_key=kwargs.pop("message_key", "<k@example>"),
        raw=b"Subject: hi\r\n\r\nbody",
        sha256="0" * 64,
        size=21,
        source="test",
        **kwargs,
    )


def test_row_insert_stores_what_save_would_and_sets_the_id():
    inbound = _inbound()
    row_insert(inbound)
    assert inbound.pk is not None
    assert not inbound._state.adding
    stored = InboundEmail.objects.get(pk=inbound.pk)
    assert bytes(stored.raw) == b"Subject: hi\r\n\r\nbody"
    assert stored.status == InboundStatus.RECEIVED  # the field default, as save() sends it
    assert stored.updated_at == inbound.updated_at  # auto_now applied on the way in


def test_row_update_writes_only_the_named_fields_and_refreshes_auto_now():
    inbound = _inbound()
    row_insert(inbound)
    before = InboundEmail.objects.get(pk=inbound.pk).updated_at
    inbound.status = InboundStatus.PROCESSED
    inbound.processed_at = timezone.now()
    inbound.source = "not written"
    row_update(inbound, ["status", "processed_at"])
    stored = InboundEmail.objects.get(pk=inbound.pk)
    assert stored.status == InboundStatus.PROCESSED
    assert stored.processed_at == inbound.processed_at
    assert stored.source == "test"
    assert stored.updated_at >= before
    assert stored.updated_at == inbound.updated_at


def _ticket_with_children(kind: str | None = "created") -> tuple[Ticket, Message, TicketEvent]:
    contact = ContactFactory()
    now = timezone.now()
    ticket = Ticket(
        subject="Printer on fire",
        requester=contact,
        account_id=contact.account_id,
        created_at=now,
        status_changed_at=now,
    )
    message = Message(
        ticket=ticket, direction="inbound", author_contact=contact, body_text="It is on fire."
    )
    event = TicketEvent(ticket=ticket, kind=kind, data={"channel": "email"})
    return ticket, message, event


def test_row_insert_with_children_stores_all_three_in_one_statement(django_assert_num_queries):
    ticket, message, event = _ticket_with_children()
    with django_assert_num_queries(1):
        row_insert_with_children(
            ticket,
            children=[(message, "ticket_id"), (event, "ticket_id")],
            expressions={"number": RawSQL("nextval('inbox_ticket_number_seq')", [])},
            fetch=("number",),
        )
    assert ticket.pk is not None
    assert ticket.number is not None  # made by the database, read back
    assert (message.ticket_id, event.ticket_id) == (ticket.pk, ticket.pk)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.number == ticket.number
    assert list(stored.messages.values_list("pk", "body_text")) == [(message.pk, "It is on fire.")]
    assert list(stored.events.values_list("pk", "kind")) == [(event.pk, "created")]
    assert not message._state.adding
    assert not event._state.adding


def test_row_insert_with_children_is_all_or_nothing():
    ticket, message, event = _ticket_with_children(kind=None)  # NOT NULL: the event fails
    tickets, messages = Ticket.objects.count(), Message.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        row_insert_with_children(
            ticket,
            children=[(message, "ticket_id"), (event, "ticket_id")],
            expressions={"number": RawSQL("nextval('inbox_ticket_number_seq')", [])},
        )
    assert (Ticket.objects.count(), Message.objects.count()) == (tickets, messages)
