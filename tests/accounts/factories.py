import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import (
    Account,
    AccountDomain,
    AccountMetrics,
    Contact,
    HealthBandChange,
    HealthScoreConfig,
    MetricSnapshot,
    RevenueEvent,
    SurveyInvitation,
    SurveyResponse,
    SurveySettings,
)


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    plan = "pro"
    lifecycle = "active"


class AccountDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountDomain

    account = factory.SubFactory(AccountFactory)
    domain = factory.Sequence(lambda n: f"customer{n}.example")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    email = factory.Sequence(lambda n: f"person{n}@customer.example")
    name = factory.Faker("name")
    account = factory.SubFactory(AccountFactory)


class RevenueEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RevenueEvent

    account = factory.SubFactory(AccountFactory)
    kind = "new"
    mrr_delta = Decimal("100.00")
    occurred_on = dt.date(2026, 1, 1)


class SurveyInvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SurveyInvitation

    kind = "csat"
    contact = factory.SubFactory(ContactFactory)
    account = factory.SelfAttribute("contact.account")
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))


class SurveyResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SurveyResponse

    kind = "csat"
    score = 5
    contact = factory.SubFactory(ContactFactory)
    account = factory.SelfAttribute("contact.account")
    responded_at = factory.LazyFunction(timezone.now)


class AccountMetricsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountMetrics

    account = factory.SubFactory(AccountFactory)


class MetricSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MetricSnapshot

    account = factory.SubFactory(AccountFactory)
    date = factory.LazyFunction(lambda: timezone.now().date())


class HealthScoreConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HealthScoreConfig
        django_get_or_create = ("singleton",)

    singleton = True


class SurveySettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SurveySettings
        django_get_or_create = ("singleton",)

    singleton = True


class HealthBandChangeFactory(factory.django.DjangoModelFactory):
    """A move between health bands, as a metrics recompute records it."""

    class Meta:
        model = HealthBandChange

    account = factory.SubFactory(AccountFactory)
    from_band = "yellow"
    to_band = "red"
    score = 35.0
    components = factory.LazyFunction(lambda: {"csat": 20.0, "backlog": 50.0})
