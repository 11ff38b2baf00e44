"""Portfolio metrics over a chosen period: overall, per success manager, per plan."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.metrics.portfolio import monthly_periods, portfolio_compute
from accounts.services import revenue_event_create, survey_response_create
from helpdesk.models import Role
from tests.accounts.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db

START = dt.date(2026, 1, 1)
END = dt.date(2026, 3, 31)


def rev(account, kind: str, delta: int, on: dt.date) -> None:
    revenue_event_create(account=account, kind=kind, mrr_delta=Decimal(delta), occurred_on=on)


def test_portfolio_overall_per_manager_and_per_plan(make_user):
    ann = make_user(Role.SUCCESS, username="ann", first_name="Ann")
    bob = make_user(Role.SUCCESS, username="bob", first_name="Bob")
    a = AccountFactory(plan="pro", success_manager=ann)  # kept, expanded
    b = AccountFactory(plan="pro", success_manager=ann)  # lost in the period
    c = AccountFactory(plan="basic", success_manager=bob)  # kept, contracted
    d = AccountFactory(plan="basic", success_manager=bob)  # acquired in the period
    e = AccountFactory(plan="basic", success_manager=bob)  # churned on the start day
    rev(a, "new", 100, dt.date(2025, 6, 1))
    rev(a, "expansion", 50, START)  # the first day is inside the period
    rev(b, "new", 200, dt.date(2025, 6, 1))
    rev(b, "churn", -200, END)  # the last day too
    rev(c, "new", 100, dt.date(2025, 6, 1))
    rev(c, "contraction", -40, dt.date(2026, 2, 1))
    rev(d, "new", 80, dt.date(2026, 2, 1))
    rev(e, "new", 60, dt.date(2025, 6, 1))
    rev(e, "churn", -60, START)
    rev(a, "expansion", 999, END + dt.timedelta(days=1))  # after the period
    at = timezone.make_aware(dt.datetime(2026, 2, 10, 12))
    contact = ContactFactory(account=a)
    for score in (5, 4, 2):
        survey_response_create(kind="csat", score=score, contact=contact, responded_at=at)
    for score in (10, 3):
        survey_response_create(kind="nps", score=score, contact=contact, responded_at=at)
    survey_response_create(
        kind="csat", score=1, contact=contact, responded_at=at - dt.timedelta(days=60)
    )  # before the period
    result = portfolio_compute(
        account_ids=[x.pk for x in (a, b, c, d, e)],
        start=START,
        end=END,
        manager_names={ann.pk: "Ann", bob.pk: "Bob"},
    )
    overall = result.overall
    # At start (end of Dec 31): a, b, c, e = 4 customers, MRR 460. At end: a, c, d.
    assert (overall.customers_at_start, overall.customers_at_end) == (4, 3)
    assert (overall.acquired, overall.lost) == (1, 2)
    assert overall.retention_rate == pytest.approx((3 - 1) / 4)
    assert overall.churn_rate == pytest.approx(2 / 4)
    assert overall.upsell_rate == pytest.approx(1 / 4)
    # NRR: (460 + 50 - 200 - 40 - 60) / 460; GRR: (460 - 300) / 460.
    assert overall.net_revenue_retention == pytest.approx(210 / 460)
    assert overall.gross_revenue_retention == pytest.approx(160 / 460)
    assert overall.csat_percent == pytest.approx(200 / 3)
    assert overall.nps == pytest.approx(0.0)
    by_manager = {row.label: row for row in result.by_manager}
    assert by_manager["Ann"].churn_rate == pytest.approx(1 / 2)
    assert by_manager["Ann"].net_revenue_retention == pytest.approx((300 + 50 - 200) / 300)
    assert by_manager["Bob"].retention_rate == pytest.approx((2 - 1) / 2)
    assert by_manager["Bob"].csat_percent is None
    by_plan = {row.label: row for row in result.by_plan}
    assert by_plan["basic"].customers_at_start == 2
    assert by_plan["basic"].gross_revenue_retention == pytest.approx((160 - 100) / 160)
    assert by_plan["pro"].upsell_rate == pytest.approx(1 / 2)


def test_portfolio_without_customers_at_start_is_null():
    young = AccountFactory()
    rev(young, "new", 10, dt.date(2026, 2, 1))
    overall = portfolio_compute(account_ids=[young.pk], start=START, end=END).overall
    assert overall.retention_rate is None
    assert overall.churn_rate is None
    assert overall.net_revenue_retention is None
    assert overall.customers_at_end == 1


def test_monthly_periods_end_on_the_given_day():
    periods = monthly_periods(dt.date(2026, 3, 15), months=3)
    assert periods == [
        (dt.date(2026, 1, 1), dt.date(2026, 1, 31)),
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        (dt.date(2026, 3, 1), dt.date(2026, 3, 15)),
    ]
