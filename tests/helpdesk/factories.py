import datetime as dt

import factory

from helpdesk.models import (
    AuditLog,
    BusinessHours,
    BusinessHoursInterval,
    CannedResponse,
    Holiday,
    Macro,
    Mailbox,
    Membership,
    Role,
    SLAPolicy,
    SLATarget,
    Team,
    User,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@staff.tandem.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = Role.AGENT
    is_staff = True
    password = factory.django.Password("pass-word-123")


class BusinessHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessHours

    name = factory.Sequence(lambda n: f"Office hours {n}")
    time_zone = "UTC"


class BusinessHoursIntervalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessHoursInterval

    business_hours = factory.SubFactory(BusinessHoursFactory)
    weekday = 0
    opens_at = dt.time(9, 0)
    closes_at = dt.time(17, 0)


class HolidayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holiday

    business_hours = factory.SubFactory(BusinessHoursFactory)
    date = dt.date(2026, 12, 25)
    name = "Christmas"


class SLAPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SLAPolicy

    name = factory.Sequence(lambda n: f"SLA {n}")


class SLATargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SLATarget

    policy = factory.SubFactory(SLAPolicyFactory)
    priority = "normal"
    first_response_minutes = 240
    next_response_minutes = 480
    resolution_minutes = 2880


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    handle = factory.Sequence(lambda n: f"team-{n}")
    kind = "support"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    is_lead = False


class CannedResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CannedResponse

    title = factory.Sequence(lambda n: f"Canned {n}")
    body = "Hi {{ requester.first_name }}, thanks for writing."


class MacroFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Macro

    name = factory.Sequence(lambda n: f"Macro {n}")
    canned_response = factory.SubFactory(CannedResponseFactory)
    set_status = "pending"


class MailboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mailbox

    name = factory.Sequence(lambda n: f"Support {n}")
    email = factory.Sequence(lambda n: f"support{n}@tandem.example")
    team = factory.SubFactory(TeamFactory)


class AuditLogFactory(factory.django.DjangoModelFactory):
    """An audit row as audit_record writes it (rows are immutable once saved)."""

    class Meta:
        model = AuditLog

    actor = factory.SubFactory(UserFactory)
    action = "login"
    ip_address = "192.0.2.10"
    object_repr = factory.LazyAttribute(lambda o: o.actor.username if o.actor else "")
    data = factory.LazyFunction(dict)
