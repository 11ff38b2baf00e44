"""Fixtures shared by the inbox's list tests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from helpdesk.models import Role
from inbox.models import Ticket, TicketAccess
from inbox.services import (
    ticket_assign,
    ticket_set_priority,
    ticket_set_status,
    ticket_set_tags,
    ticket_snooze,
)
from notes.services.notes import note_create
from tests.accounts.factories import AccountFactory, ContactFactory
from tests.helpdesk.factories import MembershipFactory, TeamFactory
from tests.inbox.inbox_helpers import new_ticket


@pytest.fixture
def scene(agent, support_team, success_manager, account, make_user):
    """Tickets across teams, accounts, statuses and assignees, some tagged "refund"."""
    elsewhere = TeamFactory(name="Elsewhere", handle="elsewhere")
    other_account = AccountFactory(name="Globex")
    globex = ContactFactory(email="g@globex.example", account=other_account)
    acme = ContactFactory(email="c@acme.example", account=account)
    colleague = make_user(Role.AGENT, username="carl")
    MembershipFactory(team=support_team, user=colleague)
    tickets = []
    plans = [
        # team, requester, status, assignee, priority, tags
        (support_team, acme, "open", agent, "high", ["refund"]),
        (support_team, acme, "solved", None, "high", ["refund"]),
        (support_team, globex, "pending", colleague, "normal", ["refund", "vip"]),
        (support_team, globex, "new", None, "normal", ["vip"]),
        (elsewhere, acme, "open", None, "high", ["refund"]),
        (elsewhere, globex, "closed", None, "normal", ["refund"]),
        (elsewhere, globex, "open", agent, "low", ["refund"]),  # assigned across teams
        (elsewhere, globex, "open", None, "normal", ["refund"]),  # shared with the agent
        (None, acme, "open", None, "normal", ["refund"]),
        (support_team, acme, "open", None, "urgent", ["refund"]),  # snoozed below
        (support_team, globex, "solved", agent, "high", ["refund"]),
    ]
    for team, requester, status, assignee, priority, tags in plans:
        ticket = new_ticket(team=team, email=requester.email)
        ticket_set_tags(ticket=ticket, actor=None, names=tags)
        if priority != "normal":
            ticket_set_priority(ticket=ticket, actor=None, priority=priority)
        if assignee:
            ticket_assign(ticket=ticket, actor=None, assignee=assignee)
        if status != "new":
            ticket_set_status(ticket=ticket, actor=None, status=status)
        tickets.append(ticket)
    TicketAccess.objects.create(ticket=tickets[7], user=agent, reason="granted")
    ticket_snooze(ticket=tickets[9], actor=agent, until=timezone.now() + dt.timedelta(days=2))
    note_create(ticket=tickets[0], author=colleague, body_markdown="@alice refund this?")
    # Spread creation times: equal times would only test the id tiebreak.
    base = timezone.now() - dt.timedelta(days=30)
    for n, ticket in enumerate(tickets):
        Ticket.objects.filter(pk=ticket.pk).update(created_at=base + dt.timedelta(hours=n % 7))
    return tickets
