import hashlib

import factory
from django.core.files.base import ContentFile
from django.utils import timezone

from inbox.models import (
    Attachment,
    InboundEmail,
    Message,
    OutboundEmail,
    SavedView,
    Tag,
    Ticket,
    TicketAccess,
    TicketCC,
    TicketEvent,
    TicketTag,
)
from tests.accounts.factories import ContactFactory
from tests.helpdesk.factories import TeamFactory, UserFactory


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag{n}")


class TicketFactory(factory.django.DjangoModelFactory):
    """A plain ticket row; tests of rules create tickets through inbox.services instead."""

    class Meta:
        model = Ticket

    number = factory.Sequence(lambda n: 100000 + n)
    subject = factory.Faker("sentence", nb_words=5)
    requester = factory.SubFactory(ContactFactory)
    account = factory.SelfAttribute("requester.account")
    team = factory.SubFactory(TeamFactory)
    status = "open"


class TicketTagFactory(factory.django.DjangoModelFactory):
    """A tag on a ticket; the database triggers fill the link's copies of the ticket."""

    class Meta:
        model = TicketTag

    ticket = factory.SubFactory(TicketFactory)
    tag = factory.SubFactory(TagFactory)


class TicketCCFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketCC

    ticket = factory.SubFactory(TicketFactory)
    email = factory.Sequence(lambda n: f"cc{n}@customer.example")


class TicketAccessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketAccess

    ticket = factory.SubFactory(TicketFactory)
    user = factory.SubFactory(UserFactory)
    reason = "granted"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    ticket = factory.SubFactory(TicketFactory)
    direction = "inbound"
    author_contact = factory.SelfAttribute("ticket.requester")
    body_text = factory.Faker("paragraph")
    message_id = factory.Sequence(lambda n: f"<m{n}@customer.example>")


class AttachmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attachment

    message = factory.SubFactory(MessageFactory)
    filename = "hello.txt"
    content_type = "text/plain"
    file = factory.LazyFunction(lambda: ContentFile(b"hello", name="hello.txt"))
    size = 5
    sha256 = hashlib.sha256(b"hello").hexdigest()


class TicketEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketEvent

    ticket = factory.SubFactory(TicketFactory)
    kind = "status"
    data = factory.LazyFunction(lambda: {"from": "new", "to": "open"})


class SavedViewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SavedView

    name = factory.Sequence(lambda n: f"View {n}")
    owner = factory.SubFactory(UserFactory)
    filters = factory.LazyFunction(lambda: {"status": ["open"]})


class InboundEmailFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboundEmail

    message_key = factory.Sequence(lambda n: f"<in{n}@customer.example>")
    raw = b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n"
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(bytes(o.raw)).hexdigest())
    size = factory.LazyAttribute(lambda o: len(o.raw))


class OutboundEmailFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutboundEmail

    kind = "reply"
    from_email = "support@tandem.example"
    to = factory.LazyFunction(lambda: ["person@customer.example"])
    subject = "Re: hello"
    body_text = "Thanks!"
    message_id = factory.Sequence(lambda n: f"<out{n}@tandem.example>")
    next_attempt_at = factory.LazyFunction(timezone.now)
