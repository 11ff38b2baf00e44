"""Selectors the inbox's Mentions and Handoffs views and the account page build on."""

from __future__ import annotations

import pytest

from helpdesk.models import Role
from notes.models import Notification
from notes.selectors import handoff_list_for_account, handoff_list_for_user, note_list_for_mentions
from notes.services import (
    handoff_accept,
    handoff_create,
    handoff_decline,
    handoff_return,
    note_create,
    notification_mark_read,
)
from tests.helpdesk.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_mentions_list_has_my_and_my_teams_mentions_unread_first(
    make_ticket, agent, success_manager, support_team, other_agent, django_assert_num_queries
):
    ticket = make_ticket()
    direct = note_create(ticket=ticket, author=success_manager, body_markdown="@alice one")
    team = note_create(ticket=ticket, author=success_manager, body_markdown="@support two")
    note_create(ticket=ticket, author=success_manager, body_markdown="@olga not alice")
    notification_mark_read(
        notification_id=Notification.objects.get(recipient=agent, note=direct).pk, user=agent
    )
    with django_assert_num_queries(1):
        notes = list(note_list_for_mentions(user=agent))
        assert [n.ticket.number for n in notes]  # ticket joined, no extra query
    assert [(n.pk, n.is_unread) for n in notes] == [(team.pk, True), (direct.pk, False)]


def test_mentions_list_hides_tickets_i_cannot_see(make_ticket, agent):
    from tests.helpdesk.factories import TeamFactory
    from tests.notes.factories import MentionFactory, NoteFactory

    hidden = make_ticket(team=TeamFactory(handle="secret", name="Secret"))
    note = NoteFactory(ticket=hidden)
    MentionFactory(note=note, user=agent)  # a row without the access grant note_create makes
    assert note.pk not in [n.pk for n in note_list_for_mentions(user=agent)]


def test_handoff_lists_for_me_and_sent_by_me(
    make_ticket, agent, success_manager, success_team, make_user, django_assert_num_queries
):
    sue = make_user(Role.SUCCESS, username="sue")
    MembershipFactory(team=success_team, user=sue)
    to_sam = handoff_create(
        ticket=make_ticket(), from_user=agent, reason="churn_risk", note_markdown="a"
    )
    to_team = handoff_create(
        ticket=make_ticket(),
        from_user=agent,
        to_team=success_team,
        reason="other",
        note_markdown="b",
    )
    declined = handoff_create(
        ticket=make_ticket(), from_user=agent, reason="expansion", note_markdown="c"
    )
    handoff_decline(handoff=declined, user=success_manager, reason="no")
    with django_assert_num_queries(2):
        lists = handoff_list_for_user(user=sue)
    assert [h.pk for h in lists["pending_for_me"]] == [to_team.pk]
    lists = handoff_list_for_user(user=success_manager)
    assert [h.pk for h in lists["pending_for_me"]] == [to_sam.pk, to_team.pk]
    sent = handoff_list_for_user(user=agent)["sent_by_me"]
    assert [h.pk for h in sent] == [declined.pk, to_team.pk, to_sam.pk]


def test_handoff_list_for_account_shows_outcomes(
    make_ticket, agent, success_manager, account, django_assert_num_queries
):
    handoff = handoff_create(
        ticket=make_ticket(), from_user=agent, reason="churn_risk", note_markdown="a"
    )
    handoff_accept(handoff=handoff, user=success_manager)
    handoff_return(handoff=handoff, user=success_manager, note_markdown="Renewed for 2 years")
    with django_assert_num_queries(1):
        rows = list(handoff_list_for_account(account_id=account.pk))
    assert [(h.pk, h.status, h.responded_by) for h in rows] == [
        (handoff.pk, "completed", success_manager)
    ]
    from django.template.loader import render_to_string

    with django_assert_num_queries(0):  # everything the table shows was joined
        html = render_to_string("notes/partials/account_handoffs.html", {"account_handoffs": rows})
    assert "Renewed for 2 years" in html
    assert "Churn risk" in html
    assert "Completed" in html
