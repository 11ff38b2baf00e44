import pytest
from django.db import IntegrityError, transaction

from inbox.models import TicketEvent
from tests.accounts.factories import ContactFactory
from tests.helpdesk.factories import TeamFactory, UserFactory
from tests.inbox.factories import (
    AttachmentFactory,
    InboundEmailFactory,
    MessageFactory,
    OutboundEmailFactory,
    SavedViewFactory,
    TagFactory,
    TicketAccessFactory,
    TicketCCFactory,
    TicketEventFactory,
    TicketFactory,
)

pytestmark = pytest.mark.django_db


def rejected(factory, **kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**kwargs)
    return True


def test_message_id_is_unique():
    MessageFactory(message_id="<same@example.com>")
    assert rejected(MessageFactory, message_id="<same@example.com>")


def test_messages_without_message_id_do_not_collide():
    MessageFactory(message_id=None)
    MessageFactory(message_id="")
    assert MessageFactory(message_id=None).pk
    assert MessageFactory(message_id="").pk


def test_message_has_one_author_at_most():
    ticket = TicketFactory()
    assert rejected(
        MessageFactory, ticket=ticket, author_user=UserFactory(), author_contact=ticket.requester
    )


def test_message_direction_is_known():
    assert rejected(MessageFactory, direction="sideways")


def test_ticket_number_unique():
    TicketFactory(number=42)
    assert rejected(TicketFactory, number=42)


def test_ticket_status_and_priority_are_known():
    assert rejected(TicketFactory, status="lost")
    assert rejected(TicketFactory, priority="meh")


def test_ticket_cannot_be_merged_into_itself():
    ticket = TicketFactory()
    ticket.merged_into = ticket
    with pytest.raises(IntegrityError), transaction.atomic():
        ticket.save()


def test_tag_name_unique_case_insensitively():
    TagFactory(name="billing")
    assert rejected(TagFactory._meta.model.objects.create, name="Billing")


def test_cc_unique_per_ticket_case_insensitively():
    cc = TicketCCFactory(email="x@customer.example")
    assert rejected(TicketCCFactory, ticket=cc.ticket, email="X@Customer.example")


def test_ticket_access_unique_per_user_and_ticket():
    grant = TicketAccessFactory()
    assert rejected(TicketAccessFactory, ticket=grant.ticket, user=grant.user)


def test_saved_view_is_personal_or_team_not_both_nor_neither():
    assert rejected(SavedViewFactory, owner=UserFactory(), team=TeamFactory())
    assert rejected(SavedViewFactory, owner=None, team=None)
    assert SavedViewFactory(owner=None, team=TeamFactory()).pk


def test_attachment_sha256_must_be_hex():
    assert rejected(AttachmentFactory, sha256="not-a-hash")


def test_inbound_email_message_key_unique():
    InboundEmailFactory(message_key="<raw@example.com>")
    assert rejected(InboundEmailFactory, message_key="<raw@example.com>")


def test_outbound_message_id_unique():
    OutboundEmailFactory(message_id="<o@tandem.example>")
    assert rejected(OutboundEmailFactory, message_id="<o@tandem.example>")


def test_ticket_events_are_immutable():
    event = TicketEventFactory()
    event.data = {"tampered": True}
    with pytest.raises(ValueError, match="immutable"):
        event.save()
    assert TicketEvent.objects.get(pk=event.pk).data == {"from": "new", "to": "open"}


def test_contact_protected_while_it_has_tickets():
    from django.db.models import ProtectedError

    contact = ContactFactory()
    TicketFactory(requester=contact)
    with pytest.raises(ProtectedError):
        contact.delete()
