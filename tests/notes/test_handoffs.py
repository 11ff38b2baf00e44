"""The handoff state machine: every allowed and every refused transition."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from helpdesk.models import Role
from inbox.models import EventKind, TicketAccess, TicketEvent
from inbox.selectors import ticket_get_for_user
from notes.models import Follower, Handoff, HandoffStatus, Notification, NotificationKind
from notes.services import (
    HandoffError,
    handoff_accept,
    handoff_cancel,
    handoff_create,
    handoff_decline,
    handoff_overdue_notify,
    handoff_return,
    handoff_transfer,
)
from tests.helpdesk.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def escalate(ticket, agent):
    def make(**kwargs):
        params = {
            "ticket": ticket,
            "from_user": agent,
            "reason": "churn_risk",
            "note_markdown": "They threatened to leave over the outage.",
            **kwargs,
        }
        return handoff_create(**params)

    return make


@pytest.fixture
def second_csm(make_user, success_team):
    user = make_user(Role.SUCCESS, username="sue")
    MembershipFactory(team=success_team, user=user)
    return user


def handoff_actions(ticket) -> list[str]:
    return [
        e.data["action"] for e in TicketEvent.objects.filter(ticket=ticket, kind=EventKind.HANDOFF)
    ]


def test_escalation_defaults_to_the_account_success_manager(
    escalate, ticket, agent, success_manager
):
    handoff = escalate()
    assert handoff.to_user == success_manager
    assert handoff.status == HandoffStatus.PENDING
    assert handoff.context_note.body_markdown == "They threatened to leave over the outage."
    assert handoff.context_note.ticket == ticket
    assert Follower.objects.filter(ticket=ticket, user=agent).exists()  # author follows
    notification = Notification.objects.get(kind=NotificationKind.HANDOFF_REQUESTED)
    assert notification.recipient == success_manager
    assert notification.target_url == f"/tickets/{ticket.number}/#handoff-{handoff.pk}"
    assert "Churn risk" in notification.text
    assert handoff_actions(ticket) == ["requested"]


def test_escalation_to_the_success_team_notifies_members_and_grants_access(
    escalate, ticket, success_team, success_manager, second_csm
):
    handoff = escalate(to_team=success_team)
    recipients = set(
        Notification.objects.filter(kind=NotificationKind.HANDOFF_REQUESTED).values_list(
            "recipient__username", flat=True
        )
    )
    assert recipients == {"sam", "sue"}
    # sue does not manage the account: she gets access through the handoff
    assert TicketAccess.objects.get(user=second_csm, ticket=ticket).reason == "handoff"
    assert ticket_get_for_user(user=second_csm, number=ticket.number) == ticket
    assert handoff.to_team == success_team


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"note_markdown": "  "}, "context note"),
        ({"reason": "bored"}, "reason"),
        ({"kind": "sideways"}, "Unknown kind"),
    ],
)
def test_escalation_input_is_checked(escalate, kwargs, message):
    with pytest.raises(HandoffError, match=message):
        escalate(**kwargs)
    assert not Handoff.objects.exists()


def test_escalation_target_must_be_success(escalate, agent, other_agent, support_team):
    with pytest.raises(HandoffError, match="not a success manager"):
        escalate(to_user=other_agent)
    with pytest.raises(HandoffError, match="not a success team"):
        escalate(to_team=support_team)
    with pytest.raises(HandoffError, match="yourself"):
        escalate(from_user=agent, to_user=agent)
    assert not Handoff.objects.exists()


def test_escalation_without_success_manager_needs_a_target(escalate, account, success_team):
    account.success_manager = None
    account.save()
    with pytest.raises(HandoffError, match="no success manager"):
        escalate()
    assert escalate(to_team=success_team).to_team == success_team


def test_second_pending_handoff_is_refused(escalate, success_manager):
    escalate()
    with pytest.raises(HandoffError, match="already has a pending handoff"):
        escalate(reason="renewal_risk")
    assert Handoff.objects.count() == 1


def test_accept_moves_ownership_and_agent_keeps_following(escalate, ticket, agent, success_manager):
    handoff = handoff_accept(handoff=escalate(), user=success_manager)
    ticket.refresh_from_db()
    assert handoff.status == HandoffStatus.ACCEPTED
    assert ticket.assignee == success_manager
    assert handoff.responded_by == success_manager
    assert Follower.objects.filter(ticket=ticket, user=agent).exists()
    accepted = Notification.objects.get(kind=NotificationKind.HANDOFF_ACCEPTED)
    assert accepted.recipient == agent
    assert handoff_actions(ticket) == ["requested", "accepted"]


def test_decline_needs_a_reason_and_keeps_the_owner(escalate, ticket, agent, success_manager):
    from inbox.services import ticket_assign

    ticket_assign(ticket=ticket, actor=agent, assignee=agent)
    handoff = escalate()
    with pytest.raises(HandoffError, match="why"):
        handoff_decline(handoff=handoff, user=success_manager, reason=" ")
    handoff = handoff_decline(handoff=handoff, user=success_manager, reason="Not a CS matter")
    ticket.refresh_from_db()
    assert handoff.status == HandoffStatus.DECLINED
    assert handoff.response_text == "Not a CS matter"
    assert ticket.assignee == agent
    declined = Notification.objects.get(kind=NotificationKind.HANDOFF_DECLINED)
    assert declined.recipient == agent
    assert "Not a CS matter" in declined.text
    # after a decline a new escalation is allowed again
    assert escalate(reason="renewal_risk").status == HandoffStatus.PENDING


def test_return_gives_the_ticket_back_with_an_outcome_note(
    escalate, ticket, agent, success_manager
):
    handoff = handoff_accept(handoff=escalate(), user=success_manager)
    with pytest.raises(HandoffError, match="outcome"):
        handoff_return(handoff=handoff, user=success_manager, note_markdown="")
    handoff = handoff_return(
        handoff=handoff,
        user=success_manager,
        note_markdown="Offered a discount, @alice over to you",
    )
    ticket.refresh_from_db()
    assert handoff.status == HandoffStatus.COMPLETED
    assert ticket.assignee == agent
    assert "discount" in handoff.response_text
    kinds = set(Notification.objects.filter(recipient=agent).values_list("kind", flat=True))
    assert {NotificationKind.HANDOFF_RETURNED, NotificationKind.MENTIONED} <= kinds
    assert Follower.objects.filter(ticket=ticket, user=success_manager).exists()
    assert handoff_actions(ticket) == ["requested", "accepted", "returned"]


def test_return_to_support_handoff_goes_to_the_ticket_team_and_its_refusals(
    escalate, ticket, agent, success_manager, support_team, success_team, second_csm
):
    handoff_accept(handoff=escalate(), user=success_manager)

    def hand_back(**kwargs):
        params = {
            "ticket": ticket,
            "from_user": success_manager,
            "kind": "return_to_support",
            "reason": "renewal_risk",
            "note_markdown": "Renewal signed; the bug itself is yours again",
            **kwargs,
        }
        return handoff_create(**params)

    with pytest.raises(HandoffError, match="Success is not a support team"):
        hand_back(to_team=success_team)
    with pytest.raises(HandoffError, match="context note"):
        hand_back(note_markdown="  ")
    back = hand_back()  # the target defaults to the ticket's (support) team
    assert (back.kind, back.to_team, back.to_user) == ("return_to_support", support_team, None)
    assert Notification.objects.filter(
        recipient=agent, kind=NotificationKind.HANDOFF_REQUESTED, handoff=back
    ).exists()
    with pytest.raises(HandoffError, match="already has a pending handoff"):
        hand_back()
    with pytest.raises(HandoffError, match="Only the person or team"):
        handoff_accept(handoff=back, user=second_csm)  # not in the support team
    with pytest.raises(HandoffError, match="cannot be transferred to success"):
        handoff_transfer(handoff=back, user=agent, to_user=second_csm, note_markdown="x")

    handoff_accept(handoff=back, user=agent)
    ticket.refresh_from_db()
    back.refresh_from_db()
    assert ticket.assignee == agent
    assert back.status == HandoffStatus.COMPLETED  # nothing follows a return
    assert Notification.objects.filter(
        recipient=success_manager, kind=NotificationKind.HANDOFF_ACCEPTED, handoff=back
    ).exists()
    with pytest.raises(HandoffError, match="already went back to support"):
        handoff_return(handoff=back, user=agent, note_markdown="and back again")
    with pytest.raises(HandoffError, match="cannot be transferred to success"):
        handoff_transfer(handoff=back, user=agent, to_user=second_csm, note_markdown="x")
    back.refresh_from_db()
    assert back.status == HandoffStatus.COMPLETED  # the refusals changed nothing
    assert handoff_actions(ticket) == ["requested", "accepted", "requested", "accepted"]


def test_transfer_of_a_pending_handoff(escalate, ticket, success_manager, second_csm):
    first = escalate()
    new = handoff_transfer(
        handoff=first, user=success_manager, to_user=second_csm, note_markdown="Sue owns renewals"
    )
    first.refresh_from_db()
    assert first.status == HandoffStatus.CANCELLED
    assert new.status == HandoffStatus.PENDING
    assert (new.kind, new.to_user, new.from_user) == ("transfer", second_csm, success_manager)
    assert Notification.objects.filter(
        recipient=second_csm, kind=NotificationKind.HANDOFF_REQUESTED, handoff=new
    ).exists()
    handoff_accept(handoff=new, user=second_csm)
    ticket.refresh_from_db()
    assert ticket.assignee == second_csm
    assert handoff_actions(ticket) == ["requested", "transferred", "accepted"]


def test_transfer_of_an_accepted_handoff(escalate, ticket, success_manager, second_csm):
    accepted = handoff_accept(handoff=escalate(), user=success_manager)
    new = handoff_transfer(
        handoff=accepted, user=success_manager, to_user=second_csm, note_markdown="Over to Sue"
    )
    accepted.refresh_from_db()
    assert accepted.status == HandoffStatus.COMPLETED
    assert new.status == HandoffStatus.PENDING


def test_transfer_target_must_be_another_success_manager(escalate, success_manager, other_agent):
    handoff = escalate()
    with pytest.raises(HandoffError, match="not a success manager"):
        handoff_transfer(
            handoff=handoff, user=success_manager, to_user=other_agent, note_markdown="x"
        )
    with pytest.raises(HandoffError, match="yourself"):
        handoff_transfer(
            handoff=handoff, user=success_manager, to_user=success_manager, note_markdown="x"
        )
    with pytest.raises(HandoffError, match="note"):
        handoff_transfer(
            handoff=handoff, user=success_manager, to_user=other_agent, note_markdown=""
        )
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.PENDING


def test_cancel_by_sender(escalate, agent, success_manager):
    handoff = escalate()
    with pytest.raises(HandoffError, match="Only the sender"):
        handoff_cancel(handoff=handoff, user=success_manager)
    assert handoff_cancel(handoff=handoff, user=agent).status == HandoffStatus.CANCELLED


# Every refused transition, from every state.
def _in_state(state, escalate, success_manager, agent):
    handoff = escalate()
    if state == "accepted":
        handoff_accept(handoff=handoff, user=success_manager)
    elif state == "declined":
        handoff_decline(handoff=handoff, user=success_manager, reason="no")
    elif state == "cancelled":
        handoff_cancel(handoff=handoff, user=agent)
    elif state == "completed":
        handoff_accept(handoff=handoff, user=success_manager)
        handoff_return(handoff=handoff, user=success_manager, note_markdown="done")
    handoff.refresh_from_db()
    assert handoff.status == state
    return handoff


REFUSED = [
    ("accepted", "accept", "already accepted"),
    ("accepted", "decline", "already accepted"),
    ("accepted", "cancel", "already accepted"),
    ("declined", "accept", "declined"),
    ("declined", "decline", "declined"),
    ("declined", "return", "declined"),
    ("declined", "transfer", "declined"),
    ("declined", "cancel", "declined"),
    ("cancelled", "accept", "cancelled"),
    ("cancelled", "return", "cancelled"),
    ("cancelled", "transfer", "cancelled"),
    ("cancelled", "decline", "cancelled"),
    ("cancelled", "cancel", "cancelled"),
    ("completed", "accept", "complete"),
    ("completed", "decline", "complete"),
    ("completed", "return", "complete"),
    ("completed", "transfer", "complete"),
    ("completed", "cancel", "complete"),
    ("pending", "return", "Accept the handoff before"),
]


@pytest.mark.parametrize(("state", "action", "message"), REFUSED)
def test_refused_transitions(state, action, message, escalate, success_manager, second_csm, agent):
    handoff = _in_state(state, escalate, success_manager, agent)
    calls = {
        "accept": lambda: handoff_accept(handoff=handoff, user=success_manager),
        "decline": lambda: handoff_decline(handoff=handoff, user=success_manager, reason="no"),
        "return": lambda: handoff_return(handoff=handoff, user=success_manager, note_markdown="x"),
        "transfer": lambda: handoff_transfer(
            handoff=handoff, user=success_manager, to_user=second_csm, note_markdown="x"
        ),
        "cancel": lambda: handoff_cancel(handoff=handoff, user=agent),
    }
    events_before = TicketEvent.objects.count()
    with pytest.raises(HandoffError, match=message):
        calls[action]()
    handoff.refresh_from_db()
    assert handoff.status == state  # nothing changed
    assert TicketEvent.objects.count() == events_before


def test_only_the_receiver_may_answer(escalate, agent, other_agent, second_csm, admin_user):
    handoff = escalate()
    for outsider in (agent, other_agent, second_csm):
        with pytest.raises(HandoffError, match="Only the person or team"):
            handoff_accept(handoff=handoff, user=outsider)
        with pytest.raises(HandoffError, match="Only the person or team"):
            handoff_decline(handoff=handoff, user=outsider, reason="no")
    # an admin may answer on the receiver's behalf
    assert handoff_accept(handoff=handoff, user=admin_user).status == HandoffStatus.ACCEPTED


def test_team_member_may_accept_a_team_handoff(escalate, success_team, second_csm):
    handoff = escalate(to_team=success_team)
    assert handoff_accept(handoff=handoff, user=second_csm).responded_by == second_csm


def test_only_the_acceptor_may_return(escalate, success_manager, second_csm, agent):
    handoff = handoff_accept(handoff=escalate(), user=success_manager)
    for outsider in (second_csm, agent):
        with pytest.raises(HandoffError, match="Only the person who accepted"):
            handoff_return(handoff=handoff, user=outsider, note_markdown="x")


def test_overdue_handoff_notifies_the_team_lead_once(escalate, success_team, make_user, settings):
    settings.HANDOFF_OVERDUE_HOURS = 4
    lead = make_user(Role.SUCCESS, username="lena")
    MembershipFactory(team=success_team, user=lead, is_lead=True)
    escalate()
    assert handoff_overdue_notify() == 0  # not old yet
    later = timezone.now() + dt.timedelta(hours=5)
    assert handoff_overdue_notify(now=later) == 1
    assert handoff_overdue_notify(now=later + dt.timedelta(hours=1)) == 0  # only once
    overdue = Notification.objects.filter(kind=NotificationKind.HANDOFF_OVERDUE)
    assert [n.recipient for n in overdue] == [lead]
    assert "more than 4 hours" in overdue[0].text


def test_answered_handoffs_are_never_overdue(escalate, success_team, success_manager, make_user):
    lead = make_user(Role.SUCCESS, username="lena")
    MembershipFactory(team=success_team, user=lead, is_lead=True)
    handoff_accept(handoff=escalate(), user=success_manager)
    assert handoff_overdue_notify(now=timezone.now() + dt.timedelta(days=3)) == 0


def test_overdue_beat_task_runs_the_sweep(escalate, success_team, make_user, settings):
    from notes.tasks import handoff_overdue_task

    settings.HANDOFF_OVERDUE_HOURS = 0
    lead = make_user(Role.SUCCESS, username="lena")
    MembershipFactory(team=success_team, user=lead, is_lead=True)
    escalate()
    assert handoff_overdue_task.delay().get() == 1
    assert Notification.objects.filter(recipient=lead, kind="handoff_overdue").count() == 1
