"""Account list and page, and the two dashboards: what users see, scoping, query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.metrics import recompute_accounts
from accounts.models import AccountMetrics
from accounts.services import revenue_event_create, survey_response_create
from helpdesk.models import Role
from inbox import services as inbox
from tests.accounts.factories import (
    AccountFactory,
    ContactFactory,
    MetricSnapshotFactory,
    RevenueEventFactory,
)
from tests.inbox.factories import TicketFactory
from tests.notes.factories import HandoffFactory

pytestmark = pytest.mark.django_db


def _metrics(account, score: float, band: str) -> None:
    AccountMetrics.objects.update_or_create(
        account=account, defaults={"health_score": score, "health_band": band}
    )


def _names(response) -> list[str]:
    return [a.name for a in response.context["accounts"]]


def test_list_sorts_by_health_mrr_and_renewal(client, admin_user):
    low = AccountFactory(name="Low", mrr=Decimal("10"), renewal_date=dt.date(2027, 3, 1))
    high = AccountFactory(name="High", mrr=Decimal("300"), renewal_date=dt.date(2027, 1, 1))
    mid = AccountFactory(name="Mid", mrr=Decimal("50"), renewal_date=None)
    _metrics(low, 20, "red")
    _metrics(high, 90, "green")
    _metrics(mid, 55, "yellow")
    client.force_login(admin_user)
    assert _names(client.get("/accounts/?sort=health")) == ["Low", "Mid", "High"]
    assert _names(client.get("/accounts/?sort=-health")) == ["High", "Mid", "Low"]
    assert _names(client.get("/accounts/?sort=-mrr")) == ["High", "Mid", "Low"]
    assert _names(client.get("/accounts/?sort=renewal")) == ["High", "Low", "Mid"]
    page = client.get("/accounts/?sort=health").content.decode()
    assert "Red · 20" in page
    assert "Green · 90" in page


def test_health_badge_rounds_down_so_the_number_matches_the_band(client, admin_user):
    """69.6 is yellow (green starts at 70): the badge says 69, as the band does."""
    _metrics(AccountFactory(name="Edge"), 69.6, "yellow")
    client.force_login(admin_user)
    page = client.get("/accounts/").content.decode()
    assert "Yellow · 69" in page
    assert "Yellow · 70" not in page


def test_list_filters_by_manager_plan_and_band(client, admin_user, make_user):
    sam = make_user(Role.SUCCESS, username="sam2")
    mine = AccountFactory(name="Mine", plan="pro", success_manager=sam)
    AccountFactory(name="Theirs", plan="basic")
    red = AccountFactory(name="Burning", plan="basic")
    _metrics(red, 10, "red")
    client.force_login(admin_user)
    assert _names(client.get(f"/accounts/?manager={sam.pk}")) == ["Mine"]
    assert _names(client.get("/accounts/?plan=basic")) == ["Burning", "Theirs"]
    assert _names(client.get("/accounts/?band=red")) == ["Burning"]
    response = client.get("/accounts/?band=purple")
    assert "band: Select a valid choice" in response.content.decode()
    assert len(_names(response)) == 3  # bad filter: shown with the error, not applied
    assert mine.pk


def test_success_manager_sees_only_their_book(client, success_manager, account):
    other = AccountFactory(name="Elsewhere")
    client.force_login(success_manager)
    assert _names(client.get("/accounts/")) == ["Acme"]
    assert client.get(f"/accounts/{other.pk}/").status_code == 404
    assert client.get(f"/accounts/{account.pk}/").status_code == 200
    assert client.get("/accounts/999999/").status_code == 404


def test_account_page_explains_the_health_band(client, admin_user, account, contact, agent):
    now = timezone.now()
    ticket = inbox.ticket_create(
        requester=contact,
        subject="Help",
        content=inbox.InboundContent(body_text="hi"),
        created_at=now - dt.timedelta(hours=3),
    )
    inbox.reply_create(ticket=ticket, author=agent, body_text="done", new_status="solved")
    survey_response_create(kind="ces", score=7, contact=contact, responded_at=now)
    for score in (9, 5, 5, 8, 7):  # 1 promoter, 2 detractors of 5: NPS -20
        survey_response_create(kind="nps", score=score, contact=contact, responded_at=now)
    for score in (5, 5, 5, 5, 1):  # CSAT 80
        survey_response_create(kind="csat", score=score, contact=contact, responded_at=now)
    revenue_event_create(
        account=account, kind="new", mrr_delta=Decimal("120"), occurred_on=now.date()
    )
    recompute_accounts(account_ids=[account.pk])
    client.force_login(admin_user)
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    # csat 80 (w2), nps 40 (w2), ces 100 (w1), first response 100 (w2), backlog 100 (w1),
    # escalations 100 (w2); NRR has no input: 840 / 10 = 84, NPS lost 2 x 60 / 10 = 12.
    assert "NPS -20 pulled it down by 12 points" in page
    assert "CSAT 80% pulled it down by 4 points" in page
    assert "Green · 84" in page
    assert "120.00" in page  # MRR in the header and the revenue history
    assert 'data-metric="first_response_seconds_median"' in page
    assert page.count("<svg") >= 20  # a trend chart per metric


def test_account_page_lists_handoffs_with_their_outcomes(
    client, success_manager, account, contact, agent
):
    from notes.services import handoff_accept, handoff_create, handoff_decline, handoff_return

    def escalate(subject):
        ticket = inbox.ticket_create(
            requester=contact,
            subject=subject,
            content=inbox.InboundContent(body_text="hi"),
            team=agent.teams.first(),
        )
        return handoff_create(
            ticket=ticket, from_user=agent, reason="churn_risk", note_markdown="Unhappy"
        )

    returned = handoff_accept(handoff=escalate("Outage again"), user=success_manager)
    handoff_return(
        handoff=returned, user=success_manager, note_markdown="Offered a credit; they stay"
    )
    declined = handoff_decline(
        handoff=escalate("Price question"), user=success_manager, reason="Billing can answer"
    )
    pending = escalate("Exec complaint")
    client.force_login(success_manager)
    html = client.get(f"/accounts/{account.pk}/").content.decode()

    def row(handoff) -> str:
        start = html.index(f'id="account-handoff-{handoff.pk}"')
        return html[start : html.index("</tr>", start)]

    assert "Offered a credit; they stay" in row(returned)
    assert "Completed" in row(returned)
    assert "Declined: Billing can answer" in row(declined)
    assert "Pending" in row(pending)
    assert "Churn risk" in row(pending)
    assert f"#handoff-{pending.pk}" in row(pending)  # links to the handoff on the ticket


def _page_rows(account, contact, agent, count: int, first_day: int = 1) -> None:
    for _ in range(count):
        ticket = TicketFactory(requester=contact, account=account, status="open")
        HandoffFactory(ticket=ticket, from_user=agent)
        RevenueEventFactory(account=account)
    today = timezone.localdate()
    for offset in range(count):
        MetricSnapshotFactory(account=account, date=today - dt.timedelta(days=first_day + offset))


def test_account_page_query_count_is_flat(
    client, admin_user, account, contact, agent, django_assert_num_queries
):
    recompute_accounts(account_ids=[account.pk])
    _page_rows(account, contact, agent, 5)
    client.force_login(admin_user)
    client.get(f"/accounts/{account.pk}/")
    with django_assert_num_queries(8) as captured:
        response = client.get(f"/accounts/{account.pk}/")
    assert len(response.context["page"].open_tickets) == 5
    _page_rows(account, contact, agent, 45, first_day=6)
    with django_assert_num_queries(len(captured.captured_queries)):
        response = client.get(f"/accounts/{account.pk}/")
    assert len(response.context["page"].open_tickets) == 50
    assert len(response.context["page"].handoffs) == 50


def test_account_list_query_count_is_flat(
    client, admin_user, success_manager, django_assert_num_queries
):
    def make(count: int) -> None:
        for _ in range(count):
            account = AccountFactory(success_manager=success_manager)
            _metrics(account, 50, "yellow")

    make(5)
    client.force_login(admin_user)
    client.get("/accounts/")
    with django_assert_num_queries(6):
        response = client.get("/accounts/?sort=health")
    assert len(response.context["accounts"]) == 5
    make(45)
    with django_assert_num_queries(6):
        response = client.get("/accounts/?sort=health")
    assert len(response.context["accounts"]) == 50


def test_success_dashboard_shows_book_at_risk_and_portfolio(client, success_manager):
    today = timezone.localdate()
    kept = AccountFactory(name="Kept", success_manager=success_manager, plan="pro")
    lost = AccountFactory(name="Lost", success_manager=success_manager, plan="pro")
    AccountFactory(name="Not mine", plan="pro")
    revenue_event_create(
        account=kept, kind="new", mrr_delta=Decimal("100"), occurred_on=today - dt.timedelta(400)
    )
    revenue_event_create(
        account=kept,
        kind="expansion",
        mrr_delta=Decimal("50"),
        occurred_on=today - dt.timedelta(10),
    )
    revenue_event_create(
        account=lost, kind="new", mrr_delta=Decimal("100"), occurred_on=today - dt.timedelta(400)
    )
    revenue_event_create(
        account=lost, kind="churn", mrr_delta=Decimal("-100"), occurred_on=today - dt.timedelta(5)
    )
    _metrics(lost, 15, "red")
    _metrics(kept, 80, "green")
    client.force_login(success_manager)
    response = client.get("/dashboards/success/")
    assert [a.name for a in response.context["book"]] == ["Lost", "Kept"]
    assert [a.name for a in response.context["at_risk"]] == ["Lost"]
    overall = response.context["overall_rows"][0]
    # Two customers at the start, one lost: retention 50%, churn 50%, upsell 50%,
    # NRR (200 + 50 - 100) / 200 = 75%, GRR (200 - 100) / 200 = 50%.
    assert (overall["retention"], overall["churn"], overall["upsell"]) == ("50%", "50%", "50%")
    assert (overall["nrr"], overall["grr"]) == ("75%", "50%")
    page = response.content.decode()
    assert "Not mine" not in page
    assert "Portfolio over time" in page
    bad = client.get("/dashboards/success/?start=2026-05-01&end=2026-01-01")
    assert "The period must start before it ends." in bad.content.decode()


def test_support_dashboard_per_team_and_agent(client, agent, support_team, contact, other_agent):
    now = timezone.now()
    ticket = inbox.ticket_create(
        requester=contact,
        subject="Help",
        content=inbox.InboundContent(body_text="hi"),
        team=support_team,
        created_at=now - dt.timedelta(hours=2),
    )
    inbox.ticket_assign(ticket=ticket, actor=agent, assignee=agent)
    inbox.reply_create(
        ticket=ticket,
        author=agent,
        body_text="done",
        new_status="solved",
        at=now - dt.timedelta(hours=1),
    )
    survey_response_create(kind="csat", score=5, contact=contact, ticket_id=ticket.pk)
    TicketFactory(team=other_agent.teams.first(), status="open")  # the Billing team
    client.force_login(agent)
    response = client.get("/dashboards/support/")
    tables = dict(response.context["tables"])
    assert [row["label"] for row in tables["team"]] == ["Support"]  # not Billing
    support = tables["team"][0]
    assert (support["created"], support["first_response"], support["resolution"]) == (
        1,
        "1h",
        "1h",
    )
    assert (support["fcr"], support["csat"], support["backlog"]) == ("100%", "100%", 0)
    assert tables["agent"][0]["label"] in (agent.get_full_name(), "alice")


def test_dashboards_query_counts_are_flat(
    client, admin_user, success_manager, agent, support_team, django_assert_num_queries
):
    def make(count: int) -> None:
        for _ in range(count):
            account = AccountFactory(success_manager=success_manager)
            _metrics(account, 30, "red")
            RevenueEventFactory(account=account)
            contact = ContactFactory(account=account)
            TicketFactory(requester=contact, account=account, team=support_team, assignee=agent)

    make(5)
    client.force_login(admin_user)
    client.get("/dashboards/success/")
    # Fixed: the trend costs 2 reads per month (12), the rest one read per block, +1 bell.
    with django_assert_num_queries(32) as success:
        client.get("/dashboards/success/")
    with django_assert_num_queries(8) as support:
        client.get("/dashboards/support/")
    make(45)
    with django_assert_num_queries(len(success.captured_queries)):
        response = client.get("/dashboards/success/")
    assert len(response.context["at_risk"]) == 25
    with django_assert_num_queries(len(support.captured_queries)):
        response = client.get("/dashboards/support/")
    assert dict(response.context["tables"])["team"][0]["backlog"] == 50
