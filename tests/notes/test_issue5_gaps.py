"""Issue 5 (collaboration) acceptance points the other notes tests did not demonstrate.

- the inbox's Mentions view lists unread mentions first, then the newest mention;
- a handoff answered by a return to support does not stay "accepted";
- an SLA warning (or breach) on an unassigned ticket reaches the ticket's team.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox.models import EventKind, TicketEvent
from inbox.selectors import TicketFilters, ticket_list_for_inbox
from notes.models import Handoff, HandoffKind, HandoffStatus, Notification
from notes.services import (
    HandoffError,
    handoff_accept,
    handoff_create,
    handoff_decline,
    handoff_return,
    handoff_transfer,
    note_create,
    notification_mark_read,
)

pytestmark = pytest.mark.django_db


def _row_numbers(html: str) -> list[int]:
    return [
        int(n)
        for n in re.findall(r'<tr class="row[^"]*" data-href="[^"]*" data-number="(\d+)"', html)
    ]


# --- Mentions view: unread first, then newest --------------------------------------------


@pytest.fixture
def mentioned_tickets(make_ticket, agent, success_manager):
    """Three tickets, created oldest-first, whose mentions of @alice run in another order."""
    now = timezone.now()
    first, second, third = (make_ticket(subject=f"Ticket {i}") for i in (1, 2, 3))
    note_create(
        ticket=first,
        author=success_manager,
        body_markdown="@alice one",
        at=now - timedelta(hours=1),
    )
    note_create(
        ticket=third, author=success_manager, body_markdown="@support three",
        at=now - timedelta(hours=3),
    )  # fmt: skip
    read = note_create(
        ticket=second, author=success_manager, body_markdown="@alice two",
        at=now - timedelta(minutes=10),
    )  # fmt: skip
    notification_mark_read(
        notification_id=Notification.objects.get(recipient=agent, note=read).pk, user=agent
    )
    return first, second, third


def test_mentions_view_lists_unread_first_then_newest(client, agent, mentioned_tickets):
    first, second, third = mentioned_tickets
    client.force_login(agent)

    html = client.get("/inbox/?view=mentions").content.decode()

    # Unread: first (1 h ago), third (3 h ago, a team mention); then read: second (10 min ago,
    # the newest of all). Creation order (newest first) would be third, second, first.
    assert _row_numbers(html) == [first.number, third.number, second.number]
    rows = html.split('<tr class="row')
    unread_chips = [row for row in rows[1:] if "Unread mention" in row]
    assert [int(re.search(r'data-number="(\d+)"', r).group(1)) for r in unread_chips] == [
        first.number,
        third.number,
    ]


def test_reading_the_notification_moves_the_ticket_down(client, agent, mentioned_tickets):
    first, second, third = mentioned_tickets
    notification_mark_read(
        notification_id=Notification.objects.get(recipient=agent, ticket=first).pk, user=agent
    )
    client.force_login(agent)

    html = client.get("/inbox/?view=mentions").content.decode()

    assert _row_numbers(html) == [third.number, second.number, first.number]


def test_a_new_mention_brings_a_read_ticket_back_to_the_top(
    client, agent, success_manager, mentioned_tickets
):
    first, second, third = mentioned_tickets
    note_create(ticket=second, author=success_manager, body_markdown="@alice again")
    client.force_login(agent)

    html = client.get("/inbox/?view=mentions").content.decode()

    assert _row_numbers(html) == [second.number, first.number, third.number]


def test_mentions_pages_keep_the_order_across_the_unread_boundary(
    agent, success_manager, make_ticket
):
    now = timezone.now()
    tickets = [make_ticket(subject=f"Paged {i}") for i in range(7)]
    for i, ticket in enumerate(tickets):
        note = note_create(
            ticket=ticket, author=success_manager, body_markdown=f"@alice {i}",
            at=now - timedelta(minutes=i),
        )  # fmt: skip
        if i % 2:  # odd ones read
            notification_mark_read(
                notification_id=Notification.objects.get(recipient=agent, note=note).pk,
                user=agent,
            )
    expected = [t.number for t in tickets[0::2]] + [t.number for t in tickets[1::2]]
    filters = TicketFilters(view="mentions")

    seen, cursor = [], ""
    while True:
        page = ticket_list_for_inbox(user=agent, filters=filters, cursor=cursor, limit=2)
        seen += [t.number for t in page.tickets]
        if not page.next_cursor:
            break
        cursor = page.next_cursor

    assert seen == expected


def test_mentions_view_query_count_is_flat(client, agent, success_manager, make_ticket):
    def mention(n: int) -> None:
        for i in range(n):
            note_create(
                ticket=make_ticket(subject=f"Flat {i}"),
                author=success_manager,
                body_markdown="@alice look",
            )

    mention(2)
    client.force_login(agent)
    client.get("/inbox/?view=mentions")
    with CaptureQueriesContext(connection) as few:
        assert len(_row_numbers(client.get("/inbox/?view=mentions").content.decode())) == 2
    mention(10)
    client.get("/inbox/?view=mentions")  # the nav counts are cached: refill them first
    with CaptureQueriesContext(connection) as many:
        assert len(_row_numbers(client.get("/inbox/?view=mentions").content.decode())) == 12

    assert len(many.captured_queries) == len(few.captured_queries)


def test_other_sorts_of_the_mentions_view_are_left_alone(client, agent, mentioned_tickets):
    first, second, third = mentioned_tickets
    client.force_login(agent)

    html = client.get("/inbox/?view=mentions&sort=oldest").content.decode()

    assert _row_numbers(html) == [first.number, second.number, third.number]


# --- return to support: no handoff stays "accepted" ----------------------------------------


@pytest.fixture
def accepted_escalation(ticket, agent, success_manager):
    handoff = handoff_create(
        ticket=ticket, from_user=agent, reason="churn_risk", note_markdown="They may leave."
    )
    return handoff_accept(handoff=handoff, user=success_manager)


def _statuses(ticket) -> dict[str, str]:
    return dict(Handoff.objects.filter(ticket=ticket).values_list("kind", "status"))


def test_return_action_completes_the_escalation(
    ticket, agent, success_manager, accepted_escalation
):
    handoff_return(
        handoff=accepted_escalation, user=success_manager, note_markdown="Saved; over to you"
    )

    assert _statuses(ticket) == {HandoffKind.ESCALATE_TO_SUCCESS: HandoffStatus.COMPLETED}
    ticket.refresh_from_db()
    assert ticket.assignee == agent


def test_accepted_return_to_support_completes_itself_and_the_escalation(
    client, ticket, agent, success_manager, accepted_escalation
):
    back = handoff_create(
        ticket=ticket,
        from_user=success_manager,
        kind=HandoffKind.RETURN_TO_SUPPORT,
        reason="renewal_risk",
        note_markdown="Renewal signed; the bug is yours again",
    )
    # Until support takes it back, the success manager still owns the escalation.
    assert _statuses(ticket) == {
        HandoffKind.ESCALATE_TO_SUCCESS: HandoffStatus.ACCEPTED,
        HandoffKind.RETURN_TO_SUPPORT: HandoffStatus.PENDING,
    }

    handoff_accept(handoff=back, user=agent)

    assert _statuses(ticket) == {
        HandoffKind.ESCALATE_TO_SUCCESS: HandoffStatus.COMPLETED,
        HandoffKind.RETURN_TO_SUPPORT: HandoffStatus.COMPLETED,
    }
    ticket.refresh_from_db()
    assert ticket.assignee == agent
    event = TicketEvent.objects.filter(ticket=ticket, kind=EventKind.HANDOFF).latest("id")
    assert event.data["completed"] == [accepted_escalation.pk]
    # Nothing is left to return or transfer: the success manager's page offers no action.
    with pytest.raises(HandoffError):
        handoff_return(handoff=accepted_escalation, user=success_manager, note_markdown="x")
    client.force_login(success_manager)
    page = client.get(ticket.get_absolute_url()).content.decode()
    assert f"/handoffs/{accepted_escalation.pk}/return" not in page
    # And a new escalation may start, since none is pending or in progress.
    again = handoff_create(
        ticket=ticket, from_user=agent, reason="expansion", note_markdown="They want more seats"
    )
    assert again.status == HandoffStatus.PENDING


def test_declined_return_leaves_the_escalation_with_success(
    ticket, agent, success_manager, accepted_escalation
):
    back = handoff_create(
        ticket=ticket,
        from_user=success_manager,
        kind=HandoffKind.RETURN_TO_SUPPORT,
        reason="renewal_risk",
        note_markdown="Yours again?",
    )

    handoff_decline(handoff=back, user=agent, reason="Still a renewal question")

    assert _statuses(ticket) == {
        HandoffKind.ESCALATE_TO_SUCCESS: HandoffStatus.ACCEPTED,
        HandoffKind.RETURN_TO_SUPPORT: HandoffStatus.DECLINED,
    }
    ticket.refresh_from_db()
    assert ticket.assignee == success_manager


def test_return_after_a_transfer_completes_the_transfer(
    ticket, agent, success_manager, make_user, success_team, accepted_escalation
):
    from helpdesk.models import Role
    from tests.helpdesk.factories import MembershipFactory

    sue = make_user(Role.SUCCESS, username="sue")
    MembershipFactory(team=success_team, user=sue)
    transfer = handoff_transfer(
        handoff=accepted_escalation, user=success_manager, to_user=sue, note_markdown="Sue knows"
    )
    handoff_accept(handoff=transfer, user=sue)
    back = handoff_create(
        ticket=ticket,
        from_user=sue,
        kind=HandoffKind.RETURN_TO_SUPPORT,
        reason="renewal_risk",
        note_markdown="Done on our side",
    )

    handoff_accept(handoff=back, user=agent)

    assert set(Handoff.objects.filter(ticket=ticket).values_list("status", flat=True)) == {
        HandoffStatus.COMPLETED
    }


# --- SLA warnings and breaches of an unassigned ticket reach its team -----------------------


@pytest.fixture
def sla_crew(make_user):
    """A support team with an SLA policy (2 h first response), three members, one inactive."""
    from helpdesk.models import Role
    from tests.helpdesk.factories import MembershipFactory
    from tests.inbox.test_workflow_services import sla_team

    team = sla_team(with_hours=False)
    members = [make_user(Role.AGENT, username=f"crew{i}") for i in range(3)]
    gone = make_user(Role.AGENT, username="gone", is_active=False)
    for user in [*members, gone]:
        MembershipFactory(team=team, user=user)
    outsider = make_user(Role.AGENT, username="outsider")
    return team, members, gone, outsider


def _sla_notified(kind: str) -> set[str]:
    return set(Notification.objects.filter(kind=kind).values_list("recipient__username", flat=True))


def test_sla_warning_on_an_unassigned_ticket_notifies_the_team(client, sla_crew):
    from inbox.services import sla_sweep
    from tests.inbox.inbox_helpers import new_ticket

    team, members, _gone, _outsider = sla_crew
    now = timezone.now()
    ticket = new_ticket(team=team, created_at=now - timedelta(minutes=100))  # due in 20 min

    assert sla_sweep(now=now) == 0  # a warning, not a breach
    sla_sweep(now=now + timedelta(minutes=1))  # once per clock

    assert _sla_notified("sla_warning") == {"crew0", "crew1", "crew2"}
    assert Notification.objects.filter(kind="sla_warning").count() == 3
    [event] = TicketEvent.objects.filter(ticket=ticket, kind=EventKind.SLA_WARNING)
    warning = Notification.objects.filter(recipient=members[0], kind="sla_warning").get()
    assert warning.text == f"#{ticket.number} is about to breach its SLA (first response) in 20 min"
    assert warning.target_url == f"/tickets/{ticket.number}/#event-{event.pk}"
    client.force_login(members[1])
    assert warning.text in client.get("/notifications/").content.decode()


def test_sla_breach_on_an_unassigned_ticket_notifies_the_team(sla_crew):
    from inbox.services import sla_sweep
    from tests.inbox.inbox_helpers import new_ticket

    team, _members, _gone, _outsider = sla_crew
    new_ticket(team=team, created_at=timezone.now() - timedelta(hours=3))

    assert sla_sweep() == 1
    assert sla_sweep() == 0

    assert _sla_notified("sla_breached") == {"crew0", "crew1", "crew2"}
    assert Notification.objects.filter(kind="sla_breached").count() == 3


def test_an_assigned_ticket_still_warns_only_its_assignee(sla_crew):
    from inbox.services import sla_sweep, ticket_assign
    from tests.inbox.inbox_helpers import new_ticket

    team, members, _gone, _outsider = sla_crew
    now = timezone.now()
    ticket = new_ticket(team=team, created_at=now - timedelta(minutes=100))
    ticket_assign(ticket=ticket, actor=None, assignee=members[2])

    sla_sweep(now=now)
    sla_sweep(now=now + timedelta(minutes=21))

    assert _sla_notified("sla_warning") == {"crew2"}
    assert _sla_notified("sla_breached") == {"crew2"}


def test_an_unassigned_ticket_without_a_team_warns_nobody_but_is_recorded(sla_crew):
    from helpdesk.models import SLAPolicy
    from inbox.models import Ticket
    from inbox.services import sla_sweep
    from tests.inbox.inbox_helpers import new_ticket

    team, _members, _gone, _outsider = sla_crew
    now = timezone.now()
    ticket = new_ticket(team=team, created_at=now - timedelta(minutes=100))
    Ticket.objects.filter(pk=ticket.pk).update(team=None)  # its team was deleted meanwhile
    assert SLAPolicy.objects.exists()

    sla_sweep(now=now)

    assert TicketEvent.objects.filter(ticket=ticket, kind=EventKind.SLA_WARNING).exists()
    assert not Notification.objects.filter(kind="sla_warning").exists()
