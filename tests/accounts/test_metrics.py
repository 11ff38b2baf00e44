"""Each metric of DESIGN.md "Metric definitions" against hand-computed values.

State is built through the services (ticket_create, reply_create, ticket_set_status,
revenue_event_create, survey_response_create, note_create) at fixed instants, and the
recompute runs at a fixed `now` so window edges can be hit exactly.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.metrics import recompute_accounts
from accounts.models import AccountMetrics, MetricSnapshot
from accounts.services import revenue_event_create, survey_response_create
from inbox import services as inbox
from inbox.models import Status, Ticket
from notes.services import note_create
from tests.accounts.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
WINDOW_START = NOW - dt.timedelta(days=90)
SECOND = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)


def recompute(account) -> AccountMetrics:
    recompute_accounts(account_ids=[account.pk], now=NOW)
    return AccountMetrics.objects.get(account=account)


def open_ticket(contact, at: dt.datetime) -> Ticket:
    return inbox.ticket_create(
        requester=contact,
        subject="Help",
        content=inbox.InboundContent(body_text="Please help"),
        created_at=at,
    )


def reply(ticket: Ticket, agent, at: dt.datetime, **kwargs) -> None:
    inbox.reply_create(ticket=ticket, author=agent, body_text="On it", at=at, **kwargs)


def status(ticket: Ticket, value: str, at: dt.datetime) -> None:
    inbox.ticket_set_status(ticket=ticket, actor=None, status=value, at=at)


def revenue(account, kind: str, delta: str, on: dt.date) -> None:
    revenue_event_create(account=account, kind=kind, mrr_delta=Decimal(delta), occurred_on=on)


def survey(contact, kind: str, score: int, at: dt.datetime) -> None:
    survey_response_create(kind=kind, score=score, contact=contact, responded_at=at)


# --- tickets -------------------------------------------------------------------------------


def test_tickets_created_counts_both_window_ends_and_nothing_outside(contact, account):
    open_ticket(contact, WINDOW_START)  # exactly now - 90 days: inside
    open_ticket(contact, NOW)  # exactly now: inside
    open_ticket(contact, NOW - 30 * DAY)
    open_ticket(contact, WINDOW_START - SECOND)  # just before the window
    open_ticket(contact, NOW + SECOND)  # after now (clock skew): outside
    assert recompute(account).tickets_created == 3


def test_first_response_median_and_p90_ignore_notes_automatic_and_old_tickets(
    contact, account, agent
):
    start = NOW - 10 * DAY
    for seconds in (60, 120, 300, 600):
        reply(open_ticket(contact, start), agent, start + dt.timedelta(seconds=seconds))
    noted = open_ticket(contact, start)
    note_create(ticket=noted, author=agent, body_markdown="Looking into it")
    automatic = open_ticket(contact, start)
    reply(automatic, agent, start + SECOND, is_automatic=True)  # auto-ack: not a response
    old = open_ticket(contact, WINDOW_START - DAY)
    reply(old, agent, WINDOW_START - DAY + 5 * SECOND)
    metrics = recompute(account)
    assert metrics.first_response_seconds_median == pytest.approx(210.0)  # (120 + 300) / 2
    # percentile_cont(0.9) of [60, 120, 300, 600]: position 2.7 -> 300 + 0.7 x 300
    assert metrics.first_response_seconds_p90 == pytest.approx(510.0)
    noted.refresh_from_db()
    automatic.refresh_from_db()
    assert noted.first_response_at is None
    assert automatic.first_response_at is None


def test_first_response_is_the_first_reply_not_a_later_one(contact, account, agent):
    ticket = open_ticket(contact, NOW - DAY)
    reply(ticket, agent, NOW - DAY + 100 * SECOND)
    reply(ticket, agent, NOW - DAY + 900 * SECOND)
    assert recompute(account).first_response_seconds_median == pytest.approx(100.0)


def test_first_response_metrics_are_null_without_responses(contact, account, agent):
    ticket = open_ticket(contact, NOW - DAY)
    note_create(ticket=ticket, author=agent, body_markdown="internal only")
    metrics = recompute(account)
    assert metrics.tickets_created == 1
    assert metrics.first_response_seconds_median is None
    assert metrics.first_response_seconds_p90 is None
    assert metrics.first_response_business_seconds_median is None


def test_business_hours_first_response_median_uses_the_recorded_fact(contact, account, agent):
    tickets = [open_ticket(contact, NOW - DAY) for _ in range(4)]
    for ticket, business in zip(tickets, (100.0, 200.0, 400.0, None), strict=True):
        reply(ticket, agent, NOW - DAY + 3600 * SECOND)
        Ticket.objects.filter(pk=ticket.pk).update(first_response_business_seconds=business)
    # Median over the three recorded values; the ticket without the fact is left out.
    assert recompute(account).first_response_business_seconds_median == pytest.approx(200.0)


def test_resolution_median_uses_the_latest_solve_and_reopening_extends_it(contact, account):
    simple = open_ticket(contact, NOW - 10 * DAY)
    status(simple, Status.SOLVED, NOW - 9 * DAY)  # 1 day
    reopened = open_ticket(contact, NOW - 5 * DAY)
    status(reopened, Status.SOLVED, NOW - 5 * DAY + 3600 * SECOND)
    inbox.message_add_inbound(
        ticket=reopened,
        contact=contact,
        content=inbox.InboundContent(body_text="Still broken"),
        at=NOW - 4 * DAY,
    )
    status(reopened, Status.CLOSED, NOW - 3 * DAY)  # latest solve: 2 days after creation
    before = open_ticket(contact, NOW - 200 * DAY)
    status(before, Status.SOLVED, WINDOW_START - SECOND)  # solved before the window
    still_open = open_ticket(contact, NOW - 8 * DAY)
    status(still_open, Status.SOLVED, NOW - 7 * DAY)
    status(still_open, Status.OPEN, NOW - 6 * DAY)  # reopened: not solved now
    metrics = recompute(account)
    assert metrics.resolution_seconds_median == pytest.approx((86400 + 172800) / 2)


def test_resolution_counts_a_solve_exactly_on_the_window_start(contact, account):
    ticket = open_ticket(contact, WINDOW_START - DAY)
    status(ticket, Status.SOLVED, WINDOW_START)
    assert recompute(account).resolution_seconds_median == pytest.approx(86400.0)


def test_resolution_rate_is_the_share_of_window_tickets_solved_or_closed_now(contact, account):
    for final in (Status.SOLVED, Status.CLOSED, None, Status.PENDING):
        ticket = open_ticket(contact, NOW - 2 * DAY)
        if final:
            status(ticket, final, NOW - DAY)
    old = open_ticket(contact, WINDOW_START - DAY)
    status(old, Status.SOLVED, NOW - DAY)  # created before the window: not in this rate
    assert recompute(account).resolution_rate == pytest.approx(0.5)


def test_rates_and_medians_are_null_without_input(account):
    metrics = recompute(account)
    assert metrics.tickets_created == 0
    assert metrics.backlog == 0
    for name in (
        "first_response_seconds_median",
        "first_response_seconds_p90",
        "first_response_business_seconds_median",
        "resolution_seconds_median",
        "resolution_rate",
        "first_contact_resolution_rate",
        "csat_percent",
        "ces_average",
        "nps",
        "mrr",
        "net_revenue_retention",
        "gross_revenue_retention",
        "expansion_mrr_12m",
        "upsell_rate",
        "churned",
        "lifetime_revenue",
        "clv",
    ):
        assert getattr(metrics, name) is None, name


def test_first_contact_resolution_needs_one_reply_and_no_reopen(contact, account, agent):
    one_reply = open_ticket(contact, NOW - 5 * DAY)
    reply(one_reply, agent, NOW - 4 * DAY, new_status=Status.SOLVED)
    two_replies = open_ticket(contact, NOW - 5 * DAY)
    reply(two_replies, agent, NOW - 4 * DAY)
    reply(two_replies, agent, NOW - 3 * DAY, new_status=Status.SOLVED)
    reopened = open_ticket(contact, NOW - 5 * DAY)
    reply(reopened, agent, NOW - 4 * DAY, new_status=Status.SOLVED)
    inbox.message_add_inbound(
        ticket=reopened,
        contact=contact,
        content=inbox.InboundContent(body_text="No, still broken"),
        at=NOW - 3 * DAY,
    )
    status(reopened, Status.SOLVED, NOW - 2 * DAY)
    no_reply = open_ticket(contact, NOW - 5 * DAY)
    status(no_reply, Status.SOLVED, NOW - 4 * DAY)
    automatic_only = open_ticket(contact, NOW - 5 * DAY)
    reply(automatic_only, agent, NOW - 5 * DAY + SECOND, is_automatic=True)
    reply(automatic_only, agent, NOW - 4 * DAY, new_status=Status.SOLVED)
    # Solved in the window: 5; exactly one public agent reply and never reopened: 2.
    assert recompute(account).first_contact_resolution_rate == pytest.approx(2 / 5)


def test_backlog_counts_every_unsolved_ticket_without_window(contact, account):
    for value in (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD):
        ticket = open_ticket(contact, NOW - 400 * DAY)
        if value != Status.NEW:
            status(ticket, value, NOW - 300 * DAY)
    for value in (Status.SOLVED, Status.CLOSED):
        status(open_ticket(contact, NOW - DAY), value, NOW - SECOND)
    other = ContactFactory(account=AccountFactory())
    open_ticket(other, NOW - DAY)  # another account's ticket
    assert recompute(account).backlog == 4


# --- surveys -------------------------------------------------------------------------------


def test_csat_percent_is_the_share_of_4_and_5_with_window_edges(contact, account):
    for score in (5, 4, 3, 1):
        survey(contact, "csat", score, NOW - DAY)
    survey(contact, "csat", 5, WINDOW_START)  # exactly on the start: counts
    survey(contact, "csat", 1, WINDOW_START - SECOND)  # just before: left out
    survey(contact, "nps", 10, NOW - DAY)  # another kind: left out
    assert recompute(account).csat_percent == pytest.approx(60.0)  # 3 of 5


def test_ces_average(contact, account):
    for score in (7, 4, 2):
        survey(contact, "ces", score, NOW - DAY)
    metrics = recompute(account)
    assert metrics.ces_average == pytest.approx(13 / 3)
    assert metrics.csat_percent is None


def test_nps_is_promoters_minus_detractors(contact, account):
    for score in (10, 10, 7, 3):
        survey(contact, "nps", score, NOW - DAY)
    survey(contact, "nps", 0, NOW + SECOND)  # after now: left out
    assert recompute(account).nps == pytest.approx(25.0)  # (2 - 1) / 4


def test_nps_zero_is_a_value_not_null(contact, account):
    for score in (10, 9, 8, 6, 0):
        survey(contact, "nps", score, NOW - DAY)
    assert recompute(account).nps == pytest.approx(0.0)


# --- revenue -------------------------------------------------------------------------------


def test_revenue_metrics_over_the_last_365_days(account):
    revenue(account, "new", "100", TODAY - 400 * DAY)
    revenue(account, "expansion", "50", TODAY - 365 * DAY)  # on the start day: in MRR at start
    revenue(account, "expansion", "30", TODAY - 364 * DAY)  # first day of the period
    revenue(account, "contraction", "-20", TODAY - 100 * DAY)
    revenue(account, "expansion", "5", TODAY + DAY)  # tomorrow: not yet
    metrics = recompute(account)
    assert metrics.mrr == Decimal("160.00")
    assert metrics.net_revenue_retention == pytest.approx(160 / 150)
    assert metrics.gross_revenue_retention == pytest.approx(130 / 150)
    assert metrics.expansion_mrr_12m == Decimal("30.00")
    assert metrics.upsell_rate == pytest.approx(0.2)
    assert metrics.churned is False
    # Days before today at each MRR: 100 x 400 + 50 x 365 + 30 x 364 - 20 x 100 = 67170.
    assert metrics.lifetime_revenue == Decimal("2239.00")  # 67170 / 30
    # The plan had one customer a year ago and kept it: the 0.01 monthly floor applies.
    assert metrics.clv == Decimal("12800.00")  # 160 x 0.8 / 0.01
    account.refresh_from_db()
    assert account.mrr == Decimal("160.00")


def test_new_and_reactivation_are_left_out_of_retention(account):
    revenue(account, "new", "100", TODAY - 400 * DAY)
    revenue(account, "churn", "-100", TODAY - 200 * DAY)
    revenue(account, "reactivation", "80", TODAY - 10 * DAY)
    metrics = recompute(account)
    assert metrics.net_revenue_retention == pytest.approx(0.0)  # (100 - 100) / 100
    assert metrics.gross_revenue_retention == pytest.approx(0.0)
    assert metrics.upsell_rate == pytest.approx(0.0)
    assert metrics.expansion_mrr_12m == Decimal("0.00")
    assert metrics.mrr == Decimal("80.00")
    assert metrics.churned is False  # reactivated


def test_gross_retention_is_capped_at_one_and_nrr_null_without_start_mrr(account):
    revenue(account, "new", "100", TODAY - 400 * DAY)
    revenue(account, "expansion", "100", TODAY - 10 * DAY)
    metrics = recompute(account)
    assert metrics.net_revenue_retention == pytest.approx(2.0)
    assert metrics.gross_revenue_retention == pytest.approx(1.0)
    young = AccountFactory(plan="pro")
    revenue(young, "new", "100", TODAY - 30 * DAY)
    metrics = recompute(young)
    assert metrics.mrr == Decimal("100.00")
    assert metrics.net_revenue_retention is None  # MRR a year ago was 0
    assert metrics.gross_revenue_retention is None
    assert metrics.upsell_rate is None
    assert metrics.lifetime_revenue == Decimal("100.00")  # 30 days x 100 / 30


def test_churn_then_reactivation(account):
    revenue(account, "new", "100", TODAY - 50 * DAY)
    revenue(account, "churn", "-100", TODAY - 20 * DAY)
    metrics = recompute(account)
    assert metrics.mrr == Decimal("0.00")
    assert metrics.churned is True
    assert metrics.clv is None  # null when MRR is 0
    assert metrics.lifetime_revenue == Decimal("100.00")  # 30 days at 100 / 30
    account.refresh_from_db()
    assert account.lifecycle == "churned"
    assert account.churned_at == TODAY - 20 * DAY
    revenue(account, "reactivation", "60", TODAY - 5 * DAY)
    metrics = recompute(account)
    assert metrics.churned is False
    assert metrics.mrr == Decimal("60.00")
    # 30 days at 100, 15 days at 0, 5 days at 60: (3000 + 300) / 30
    assert metrics.lifetime_revenue == Decimal("110.00")
    account.refresh_from_db()
    assert account.lifecycle == "active"


def test_never_above_zero_is_not_churned(account):
    revenue(account, "new", "100", TODAY - 5 * DAY)
    revenue(account, "churn", "-100", TODAY - 5 * DAY)  # same day: MRR on that day is 0
    assert recompute(account).churned is False


def test_today_event_counts_in_mrr_but_not_in_lifetime(account):
    revenue(account, "new", "90", TODAY)
    metrics = recompute(account)
    assert metrics.mrr == Decimal("90.00")
    assert metrics.lifetime_revenue == Decimal("0.00")


def test_clv_uses_the_plan_logo_churn_rate(account):
    basic = [AccountFactory(plan="basic") for _ in range(4)]
    for customer in basic:
        revenue(customer, "new", "100", TODAY - 400 * DAY)
    revenue(basic[0], "churn", "-100", TODAY - 10 * DAY)
    late = AccountFactory(plan="basic")
    revenue(late, "new", "50", TODAY - 30 * DAY)  # not a customer a year ago: not in the base
    other_plan = AccountFactory(plan="pro")
    revenue(other_plan, "new", "100", TODAY - 400 * DAY)
    revenue(other_plan, "churn", "-100", TODAY - 5 * DAY)  # another plan's churn
    # basic: 1 of 4 lost in the year -> 0.25 / 12 per month.
    assert recompute(basic[1]).clv == Decimal("3840.00")  # 100 x 0.8 / (0.25 / 12)
    assert recompute(late).clv == Decimal("1920.00")  # 50 x 0.8 / (0.25 / 12)


def test_clv_floor_when_the_plan_had_no_customers_a_year_ago(account):
    revenue(account, "new", "100", TODAY - 30 * DAY)
    assert recompute(account).clv == Decimal("8000.00")  # 100 x 0.8 / 0.01


# --- the row itself ----------------------------------------------------------------------


def test_recompute_is_idempotent_and_writes_one_snapshot_per_day(contact, account, agent):
    reply(open_ticket(contact, NOW - DAY), agent, NOW - DAY + 60 * SECOND)
    revenue(account, "new", "100", TODAY - 10 * DAY)
    first = recompute(account)
    second = recompute(account)
    fields = [f.name for f in AccountMetrics._meta.fields if f.name not in ("id",)]
    assert [getattr(first, f) for f in fields] == [getattr(second, f) for f in fields]
    snapshot = MetricSnapshot.objects.get(account=account)
    assert snapshot.date == TODAY
    assert snapshot.first_response_seconds_median == pytest.approx(60.0)
    assert snapshot.mrr == Decimal("100.00")


def test_recompute_clears_the_dirty_flag_set_by_the_services(contact, account):
    open_ticket(contact, NOW - DAY)
    account.refresh_from_db()
    assert account.metrics_dirty_at is not None
    recompute(account)
    account.refresh_from_db()
    assert account.metrics_dirty_at is None


def test_moving_a_contact_moves_its_answers_and_marks_both_accounts_dirty(contact, account):
    from accounts.services import contact_move

    survey(contact, "nps", 10, NOW - DAY)
    recompute(account)
    other = AccountFactory(name="Umbrella")
    Account = type(account)
    Account.objects.filter(pk__in=[account.pk, other.pk]).update(metrics_dirty_at=None)
    contact_move(contact=contact, account=other)
    assert (
        Account.objects.filter(
            pk__in=[account.pk, other.pk], metrics_dirty_at__isnull=False
        ).count()
        == 2
    )
    assert recompute(account).nps is None
    assert recompute(other).nps == pytest.approx(100.0)


def test_a_churn_recomputes_the_clv_of_every_account_on_the_plan(
    django_capture_on_commit_callbacks,
):
    today = timezone.localdate()
    basic = [AccountFactory(plan="basic") for _ in range(4)]
    with django_capture_on_commit_callbacks(execute=True):
        for customer in basic:
            revenue(customer, "new", "100", today - 400 * DAY)
    assert AccountMetrics.objects.get(account=basic[1]).clv == Decimal("8000.00")  # floor
    with django_capture_on_commit_callbacks(execute=True):
        revenue(basic[0], "churn", "-100", today - 10 * DAY)  # only basic[0] changes
    assert AccountMetrics.objects.get(account=basic[1]).clv == Decimal("3840.00")
    assert AccountMetrics.objects.get(account=basic[3]).clv == Decimal("3840.00")
