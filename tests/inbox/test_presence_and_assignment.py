"""Presence on the ticket page, load-balanced auto-assignment, the next-response SLA clock
in business hours, and the account facts in the ticket page's side panel."""

from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal

import pytest
from django.core.cache import cache

from accounts.services import revenue_event_create
from helpdesk.models import AutoAssign, Role, SLAPolicy, SLATarget
from inbox.models import Ticket
from inbox.services import (
    InboundContent,
    message_add_inbound,
    reply_create,
    sla_sweep,
    ticket_assign,
    ticket_set_status,
)
from tests.accounts.factories import AccountFactory, ContactFactory
from tests.helpdesk.factories import (
    BusinessHoursFactory,
    BusinessHoursIntervalFactory,
    HolidayFactory,
    MembershipFactory,
    TeamFactory,
)
from tests.inbox.inbox_helpers import new_ticket

pytestmark = pytest.mark.django_db

UTC = dt.UTC


# --- presence ----------------------------------------------------------------------------


@pytest.fixture
def bob(make_user, support_team):
    user = make_user(Role.AGENT, username="bob", first_name="Bob", last_name="Builder")
    MembershipFactory(team=support_team, user=user)
    return user


def presence_html(client, ticket: Ticket) -> str:
    response = client.get(f"/tickets/{ticket.number}/presence/")
    assert response.status_code == 200
    return response.content.decode()


def test_opening_the_ticket_shows_me_as_viewing_not_writing(client, agent, bob, support_team):
    ticket = new_ticket(team=support_team)
    cache.delete(f"presence:{ticket.pk}")
    client.force_login(bob)
    assert client.get(f"/tickets/{ticket.number}/").status_code == 200  # Bob only reads
    client.force_login(agent)
    html = presence_html(client, ticket)
    assert "Bob Builder is viewing" in html
    assert "writing" not in html
    # Bob starts typing a reply: the chip changes on the next poll.
    client.force_login(bob)
    client.post(f"/tickets/{ticket.number}/presence/", {"typing": "1"})
    client.force_login(agent)
    assert "Bob Builder is writing" in presence_html(client, ticket)


def test_presence_of_a_closed_tab_drops_after_the_ttl(
    client, agent, bob, support_team, monkeypatch
):
    # A one-second TTL instead of twenty, so the test waits for the real cache expiry.
    monkeypatch.setattr("inbox.services.PRESENCE_TTL_SECONDS", 1)
    ticket = new_ticket(team=support_team)
    other = new_ticket(team=support_team)
    cache.delete(f"presence:{ticket.pk}")
    client.force_login(bob)
    client.get(f"/tickets/{ticket.number}/")
    client.get(f"/tickets/{other.number}/")  # presence is per ticket
    client.force_login(agent)
    assert "Bob Builder is viewing" in presence_html(client, ticket)
    assert "Bob Builder" not in presence_html(client, new_ticket(team=support_team))
    time.sleep(1.5)  # Bob closed his tab: no poll refreshes his entry
    html = presence_html(client, ticket)
    assert "Bob Builder" not in html
    # Bob comes back: he shows up again at once.
    client.force_login(bob)
    client.get(f"/tickets/{ticket.number}/presence/")
    client.force_login(agent)
    assert "Bob Builder is viewing" in presence_html(client, ticket)


# --- load-balanced auto-assignment -------------------------------------------------------


def test_load_balanced_skips_unavailable_inactive_and_non_agents(make_user):
    team = TeamFactory(name="Balanced", handle="balanced", auto_assign=AutoAssign.LOAD_BALANCED)
    idle_away = make_user(Role.AGENT, username="away")  # fewest open, but not available
    idle_away.is_available = False
    idle_away.save()
    idle_gone = make_user(Role.AGENT, username="gone")  # fewest open, but deactivated
    idle_gone.is_active = False
    idle_gone.save()
    idle_csm = make_user(Role.SUCCESS, username="csm")  # a success manager takes no queue
    busy = make_user(Role.AGENT, username="busy")
    light = make_user(Role.AGENT, username="light")
    for user in (idle_away, idle_gone, idle_csm, busy, light):
        MembershipFactory(team=team, user=user)
    for _ in range(2):
        ticket_assign(ticket=new_ticket(team=None), actor=None, assignee=busy)
    ticket_assign(ticket=new_ticket(team=None), actor=None, assignee=light)

    first = new_ticket(team=team, subject="First")
    assert first.assignee == light  # 1 open against busy's 2; the idle three are skipped
    second = new_ticket(team=team, subject="Second")
    assert {second.assignee} <= {light, busy}  # 2 and 2: the lower id breaks the tie
    assert second.assignee == min(light, busy, key=lambda u: u.pk)

    idle_away.is_available = True  # back from lunch: now the least loaded
    idle_away.save()
    assert new_ticket(team=team, subject="Third").assignee == idle_away


def test_load_balanced_counts_only_open_tickets(make_user):
    team = TeamFactory(name="Balanced", handle="balanced", auto_assign=AutoAssign.LOAD_BALANCED)
    a = make_user(Role.AGENT, username="lb-a")
    b = make_user(Role.AGENT, username="lb-b")
    for user in (a, b):
        MembershipFactory(team=team, user=user)
    done = new_ticket(team=None)
    ticket_assign(ticket=done, actor=None, assignee=a)
    ticket_set_status(ticket=done, actor=None, status="solved")
    ticket_assign(ticket=new_ticket(team=None), actor=None, assignee=b)
    assert new_ticket(team=team).assignee == a  # a's solved ticket is not load


def test_load_balanced_with_everyone_away_leaves_the_ticket_unassigned(make_user):
    team = TeamFactory(name="Balanced", handle="balanced", auto_assign=AutoAssign.LOAD_BALANCED)
    away = make_user(Role.AGENT, username="away")
    away.is_available = False
    away.save()
    MembershipFactory(team=team, user=away)
    ticket = new_ticket(team=team)
    assert ticket.assignee is None
    assert Ticket.objects.get(pk=ticket.pk).assignee_id is None


# --- next-response SLA in business hours --------------------------------------------------


@pytest.fixture
def office_team():
    """Mon-Fri 9-17 UTC, Friday 20 November 2026 off; next response within 4 business hours."""
    hours = BusinessHoursFactory(time_zone="UTC")
    for weekday in range(5):
        BusinessHoursIntervalFactory(business_hours=hours, weekday=weekday)
    HolidayFactory(business_hours=hours, date=dt.date(2026, 11, 20), name="Founders' day")
    policy = SLAPolicy.objects.create(name="Office", business_hours=hours)
    SLATarget.objects.create(
        policy=policy,
        priority="normal",
        first_response_minutes=60,
        next_response_minutes=240,
        resolution_minutes=None,
    )
    return TeamFactory(name="Office", handle="office", sla_policy=policy, business_hours=hours)


def test_next_response_clock_skips_holiday_and_weekend(agent, office_team):
    created = dt.datetime(2026, 11, 18, 10, tzinfo=UTC)  # Wednesday
    ticket = new_ticket(team=office_team, created_at=created)
    reply_create(ticket=ticket, author=agent, body_text="Looking into it.", at=created)
    # The customer answers Thursday 15:00: 2h left that day, Friday is a holiday, then the
    # weekend, so the other 2h run Monday 9:00-11:00.
    wrote = dt.datetime(2026, 11, 19, 15, tzinfo=UTC)
    message_add_inbound(
        ticket=ticket,
        contact=ticket.requester,
        content=InboundContent(body_text="Still broken."),
        at=wrote,
    )
    ticket.refresh_from_db()
    monday_11 = dt.datetime(2026, 11, 23, 11, tzinfo=UTC)
    assert ticket.next_response_due_at == monday_11

    sla_sweep(now=monday_11 - dt.timedelta(minutes=1))
    ticket.refresh_from_db()
    assert not ticket.sla_next_response_breached
    sla_sweep(now=monday_11 + dt.timedelta(minutes=1))
    ticket.refresh_from_db()
    assert ticket.sla_next_response_breached
    assert not ticket.sla_first_response_breached  # answered in time on Wednesday


def test_next_response_clock_started_after_hours_counts_from_next_opening(agent, office_team):
    created = dt.datetime(2026, 11, 18, 10, tzinfo=UTC)
    ticket = new_ticket(team=office_team, created_at=created)
    reply_create(ticket=ticket, author=agent, body_text="On it.", at=created)
    # Thursday 22:00 is after hours and Friday is off: the 4h run Monday 9:00-13:00.
    message_add_inbound(
        ticket=ticket,
        contact=ticket.requester,
        content=InboundContent(body_text="Hello?"),
        at=dt.datetime(2026, 11, 19, 22, tzinfo=UTC),
    )
    ticket.refresh_from_db()
    assert ticket.next_response_due_at == dt.datetime(2026, 11, 23, 13, tzinfo=UTC)
    reply_create(
        ticket=ticket,
        author=agent,
        body_text="Fixed.",
        at=dt.datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
    )
    ticket.refresh_from_db()
    assert ticket.next_response_due_at is None  # answered: the clock stops


# --- the side panel ------------------------------------------------------------------------


def side_panel_facts(html: str) -> dict[str, str]:
    """The account facts of the ticket page as label -> text (whitespace and tags dropped)."""
    facts = re.search(r'<dl class="facts">(.*?)</dl>', html, re.S).group(1)
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", facts, re.S)
    return {
        re.sub(r"\s+", " ", label).strip(): re.sub(r"<[^>]+>|\s+", " ", value).strip()
        for label, value in pairs
    }


def test_side_panel_shows_plan_mrr_lifecycle_and_success_manager(
    client, agent, support_team, make_user, django_capture_on_commit_callbacks
):
    manager = make_user(Role.SUCCESS, username="tess", first_name="Tess", last_name="Manager")
    account = AccountFactory(
        name="Initech", plan="enterprise", lifecycle="at_risk", success_manager=manager
    )
    with django_capture_on_commit_callbacks(execute=True):  # the MRR recompute runs
        for kind, delta, day in [
            ("new", "12000", (2025, 1, 1)),
            ("expansion", "500", (2026, 1, 1)),
        ]:
            revenue_event_create(
                account=account, kind=kind, mrr_delta=Decimal(delta), occurred_on=dt.date(*day)
            )
    requester = ContactFactory(email="peter@initech.example", name="Peter", account=account)
    ticket = new_ticket(team=support_team, email=requester.email, subject="TPS reports")
    client.force_login(agent)
    html = client.get(f"/tickets/{ticket.number}/").content.decode()
    assert "Initech" in html
    facts = side_panel_facts(html)
    assert facts["Plan"] == "enterprise"
    assert facts["MRR"] == "$12,500"
    assert facts["Lifecycle"] == "At risk"
    assert facts["Success manager"] == "Tess Manager"


def test_side_panel_without_a_success_manager_says_so(client, agent, support_team):
    account = AccountFactory(name="Hooli", plan="starter", lifecycle="trial")
    requester = ContactFactory(email="gavin@hooli.example", account=account)
    ticket = new_ticket(team=support_team, email=requester.email)
    client.force_login(agent)
    facts = side_panel_facts(client.get(f"/tickets/{ticket.number}/").content.decode())
    assert facts["Success manager"] == "—"
    assert facts["Lifecycle"] == "Trial"
    assert facts["MRR"] == "$0"
