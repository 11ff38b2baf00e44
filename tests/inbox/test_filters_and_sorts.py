"""The inbox list's team, account, status and assignee filters, sorts, bulk edits, views."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from accounts.services import contact_get_or_create
from inbox.models import EventKind, Ticket, TicketEvent
from inbox.services import (
    InboundContent,
    message_add_inbound,
    ticket_assign,
    ticket_set_status,
)
from notes.models import Notification
from tests.accounts.factories import AccountDomainFactory, AccountFactory
from tests.helpdesk.factories import MembershipFactory, TeamFactory
from tests.inbox.inbox_helpers import new_ticket

pytestmark = pytest.mark.django_db


def numbers_on_page(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-number="(\d+)"', html)]


def listed(client, **params: object) -> list[int]:
    response = client.get("/inbox/", {"view": "all", **params})
    assert response.status_code == 200
    return numbers_on_page(response.content.decode())


@pytest.fixture
def billing_team(agent):
    """A second team the agent also works in."""
    team = TeamFactory(name="Billing desk", handle="billing-desk")
    MembershipFactory(team=team, user=agent)
    return team


def test_team_filter_narrows_to_one_of_my_teams(client, agent, support_team, billing_team):
    support = new_ticket(team=support_team, subject="Login trouble")
    billing = new_ticket(team=billing_team, subject="Refund please")
    client.force_login(agent)
    assert set(listed(client)) == {support.number, billing.number}
    assert listed(client, team=billing_team.pk) == [billing.number]
    assert listed(client, team=support_team.pk) == [support.number]
    page = client.get("/inbox/", {"view": "all", "team": billing_team.pk}).content.decode()
    assert "Refund please" in page
    assert "Login trouble" not in page


def test_team_filter_cannot_reach_a_team_i_am_not_in(client, agent, support_team):
    elsewhere = TeamFactory(name="Elsewhere", handle="elsewhere")
    new_ticket(team=elsewhere, subject="Not for you")
    client.force_login(agent)
    assert listed(client, team=elsewhere.pk) == []


def test_account_filter_lists_that_customers_tickets(client, agent, support_team, contact):
    globex = AccountFactory(name="Globex")
    AccountDomainFactory(account=globex, domain="globex.example")
    acme_ticket = new_ticket(team=support_team, email=contact.email, subject="Acme asks")
    globex_contact = contact_get_or_create(email="gil@globex.example", name="Gil")
    assert globex_contact.account == globex
    globex_ticket = new_ticket(team=support_team, email=globex_contact.email, subject="Globex")
    new_ticket(team=support_team, subject="No account at all")
    client.force_login(agent)
    assert listed(client, account=contact.account_id) == [acme_ticket.number]
    assert listed(client, account=globex.pk) == [globex_ticket.number]


def test_status_filter_returns_the_rows_in_that_status(client, agent, support_team):
    fresh = new_ticket(team=support_team, subject="Fresh")
    waiting = [new_ticket(team=support_team, subject=f"Waiting {i}") for i in range(2)]
    for ticket in waiting:
        ticket_set_status(ticket=ticket, actor=agent, status="pending")
    working = new_ticket(team=support_team, subject="Working")
    ticket_set_status(ticket=working, actor=agent, status="open")
    client.force_login(agent)
    assert listed(client, status="pending") == [t.number for t in reversed(waiting)]
    assert listed(client, status="open") == [working.number]
    assert listed(client, status="new") == [fresh.number]
    page = client.get("/inbox/", {"view": "all", "status": "pending"}).content.decode()
    assert "Waiting 0" in page
    assert "Fresh" not in page


def test_assignee_none_lists_exactly_the_unassigned(client, agent, other_agent, support_team):
    mine = new_ticket(team=support_team, subject="Mine")
    ticket_assign(ticket=mine, actor=agent, assignee=agent)
    colleague = MembershipFactory(team=support_team, user__username="carl").user
    theirs = new_ticket(team=support_team, subject="Carl's")
    ticket_assign(ticket=theirs, actor=agent, assignee=colleague)
    nobody = [new_ticket(team=support_team, subject=f"Nobody {i}") for i in range(2)]
    client.force_login(agent)
    assert listed(client, assignee="none") == [t.number for t in reversed(nobody)]
    assert listed(client, assignee=colleague.pk) == [theirs.number]
    assert set(listed(client)) == {mine.number, theirs.number, *(t.number for t in nobody)}


def test_last_customer_message_sort_differs_from_newest(client, agent, support_team):
    now = timezone.now()
    old = new_ticket(team=support_team, subject="Old", created_at=now - dt.timedelta(days=3))
    middle = new_ticket(team=support_team, subject="Middle", created_at=now - dt.timedelta(1))
    newest = new_ticket(team=support_team, subject="Newest", created_at=now - dt.timedelta(hours=2))
    # The customer of the oldest ticket writes again just now: it is the most recent word.
    message_add_inbound(
        ticket=old, contact=old.requester, content=InboundContent(body_text="Any news?")
    )
    client.force_login(agent)
    assert listed(client) == [newest.number, middle.number, old.number]
    assert listed(client, sort="customer") == [old.number, newest.number, middle.number]
    assert listed(client, sort="oldest") == [old.number, middle.number, newest.number]


def test_bulk_move_to_another_team(client, agent, support_team, billing_team):
    a = new_ticket(team=support_team, subject="Invoice A")
    b = new_ticket(team=support_team, subject="Invoice B")
    stays = new_ticket(team=support_team, subject="Login")
    hidden = new_ticket(team=TeamFactory(name="Elsewhere", handle="elsewhere"))
    client.force_login(agent)
    response = client.post(
        "/inbox/bulk/",
        {
            "tickets": [a.number, b.number, hidden.number],
            "action": "team",
            "value": billing_team.pk,
        },
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Updated 2 tickets." in page
    assert listed(client, team=billing_team.pk) == [b.number, a.number]
    for ticket in (a, b):
        assert TicketEvent.objects.filter(ticket=ticket, kind=EventKind.TEAM).count() == 1
    assert Ticket.objects.get(pk=stays.pk).team == support_team
    assert Ticket.objects.get(pk=hidden.pk).team.handle == "elsewhere"


def test_bulk_priority(client, agent, support_team):
    a = new_ticket(team=support_team)
    b = new_ticket(team=support_team)
    calm = new_ticket(team=support_team)
    client.force_login(agent)
    client.post(
        "/inbox/bulk/", {"tickets": [a.number, b.number], "action": "priority", "value": "urgent"}
    )
    assert listed(client, priority="urgent") == [b.number, a.number]
    assert Ticket.objects.get(pk=calm.pk).priority == "normal"
    event = TicketEvent.objects.filter(ticket=a, kind=EventKind.PRIORITY).get()
    assert event.actor == agent
    bad = client.post(
        "/inbox/bulk/", {"tickets": [calm.number], "action": "priority", "value": "whenever"}
    )
    assert "Bulk action not applied" in client.get(bad["Location"]).content.decode()
    assert Ticket.objects.get(pk=calm.pk).priority == "normal"


def test_bulk_assign_notifies_the_new_assignee_once_per_ticket(client, agent, support_team):
    colleague = MembershipFactory(team=support_team, user__username="carl").user
    tickets = [new_ticket(team=support_team) for _ in range(2)]
    client.force_login(agent)
    client.post(
        "/inbox/bulk/",
        {"tickets": [t.number for t in tickets], "action": "assign", "value": colleague.pk},
    )
    assert listed(client, assignee=colleague.pk) == [t.number for t in reversed(tickets)]
    assert Notification.objects.filter(recipient=colleague).count() == 2


def test_personal_saved_view_is_hidden_from_teammates(client, agent, support_team):
    urgent = new_ticket(team=support_team, subject="Urgent one")
    client.force_login(agent)
    client.post(
        "/inbox/bulk/", {"tickets": [urgent.number], "action": "priority", "value": "urgent"}
    )
    response = client.post("/inbox/views/", {"name": "My fires", "query": "priority=urgent"})
    saved_id = re.search(r"saved=(\d+)", response["Location"]).group(1)
    own = client.get(f"/inbox/?saved={saved_id}").content.decode()
    assert "My fires" in own
    assert numbers_on_page(own) == [urgent.number]
    teammate = MembershipFactory(team=support_team, user__username="tom").user
    client.force_login(teammate)
    assert "My fires" not in client.get("/inbox/").content.decode()
    assert client.get(f"/inbox/?saved={saved_id}").status_code == 404
