import factory

from notes.models import (
    Follower,
    Handoff,
    Mention,
    Note,
    NoteRevision,
    Notification,
    NotificationPreference,
)
from tests.helpdesk.factories import UserFactory
from tests.inbox.factories import TicketFactory


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    ticket = factory.SubFactory(TicketFactory)
    author = factory.SubFactory(UserFactory)
    body_markdown = "An **internal** note"
    body_html = "<p>An <strong>internal</strong> note</p>"


class NoteRevisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NoteRevision

    note = factory.SubFactory(NoteFactory)
    body_markdown = "Earlier text"


class MentionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mention

    note = factory.SubFactory(NoteFactory)
    user = factory.SubFactory(UserFactory)


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    kind = "mentioned"
    text = "You were mentioned"


class NotificationPreferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationPreference

    user = factory.SubFactory(UserFactory)
    kind = "mentioned"
    email = "immediate"


class HandoffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Handoff

    ticket = factory.SubFactory(TicketFactory)
    from_user = factory.SubFactory(UserFactory)
    to_user = factory.SubFactory(UserFactory, role="success")
    kind = "escalate_to_success"
    reason = "churn_risk"


class FollowerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Follower

    ticket = factory.SubFactory(TicketFactory)
    user = factory.SubFactory(UserFactory)
