import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.models import HealthScoreConfig, SurveySettings
from tests.accounts.factories import (
    AccountDomainFactory,
    AccountMetricsFactory,
    ContactFactory,
    MetricSnapshotFactory,
    RevenueEventFactory,
    SurveyInvitationFactory,
    SurveyResponseFactory,
)
from tests.inbox.factories import TicketFactory

pytestmark = pytest.mark.django_db


def rejected(factory, **kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**kwargs)
    return True


def test_contact_email_unique_case_insensitively():
    ContactFactory(email="Carol@Acme.example")
    assert rejected(ContactFactory, email="carol@acme.EXAMPLE")


def test_account_domain_unique_case_insensitively():
    AccountDomainFactory(domain="acme.example")
    domain = AccountDomainFactory.build(domain="ACME.example")
    domain.account.save()
    domain.account = domain.account
    # save() lower-cases; the database index is case-insensitive either way.
    with pytest.raises(IntegrityError), transaction.atomic():
        domain.save()


def test_revenue_event_external_id_unique():
    RevenueEventFactory(external_id="stripe-1")
    assert rejected(RevenueEventFactory, external_id="stripe-1")


@pytest.mark.parametrize(
    ("kind", "delta"),
    [
        ("new", "-10"),
        ("expansion", "0"),
        ("reactivation", "-1"),
        ("contraction", "5"),
        ("churn", "100"),
    ],
)
def test_revenue_event_sign_must_match_kind(kind, delta):
    assert rejected(RevenueEventFactory, kind=kind, mrr_delta=Decimal(delta))


@pytest.mark.parametrize(
    ("kind", "score"),
    [("csat", 0), ("csat", 6), ("ces", 0), ("ces", 8), ("nps", -1), ("nps", 11)],
)
def test_survey_score_out_of_range_is_rejected(kind, score):
    assert rejected(SurveyResponseFactory, kind=kind, score=score)


@pytest.mark.parametrize(
    ("kind", "score"), [("csat", 1), ("csat", 5), ("ces", 7), ("nps", 0), ("nps", 10)]
)
def test_survey_score_at_range_edges_is_accepted(kind, score):
    assert SurveyResponseFactory(kind=kind, score=score).pk


def test_one_survey_response_per_ticket_and_kind():
    ticket = TicketFactory()
    SurveyResponseFactory(ticket=ticket, kind="csat", score=4)
    assert rejected(SurveyResponseFactory, ticket=ticket, kind="csat", score=5)
    assert SurveyResponseFactory(ticket=ticket, kind="ces", score=5).pk  # other kind is fine


def test_responses_without_ticket_are_not_limited():
    SurveyResponseFactory(kind="nps", score=9)
    assert SurveyResponseFactory(kind="nps", score=3).pk


def test_one_survey_invitation_per_ticket_and_kind():
    ticket = TicketFactory()
    SurveyInvitationFactory(ticket=ticket, kind="csat")
    assert rejected(SurveyInvitationFactory, ticket=ticket, kind="csat")


def test_health_score_range():
    assert rejected(AccountMetricsFactory, health_score=100.5)
    assert rejected(MetricSnapshotFactory, health_score=-1)


def test_one_snapshot_per_account_and_day():
    snapshot = MetricSnapshotFactory(date=dt.date(2026, 11, 1))
    assert rejected(MetricSnapshotFactory, account=snapshot.account, date=snapshot.date)


def test_health_config_is_a_singleton_with_ordered_bands():
    config = HealthScoreConfig.load()
    assert config.weights()["csat"] == 2
    assert rejected(HealthScoreConfig.objects.create, singleton=False)
    config.yellow_min = 80
    with pytest.raises(IntegrityError), transaction.atomic():
        config.save()


def test_health_weights_cannot_be_negative():
    config = HealthScoreConfig.load()
    config.weight_nps = -1
    with pytest.raises(IntegrityError), transaction.atomic():
        config.save()


def test_survey_settings_singleton():
    SurveySettings.load()
    assert rejected(SurveySettings.objects.create, singleton=True)
