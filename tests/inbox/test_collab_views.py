"""The Mentions and Handoffs inbox views, read straight from the notes models."""

from __future__ import annotations

import re

import pytest

from inbox.services import ticket_grant_access
from tests.helpdesk.factories import TeamFactory
from tests.inbox.inbox_helpers import new_ticket
from tests.notes.factories import HandoffFactory, MentionFactory, NoteFactory

pytestmark = pytest.mark.django_db


def numbers(client, view):
    html = client.get(f"/inbox/?view={view}").content.decode()
    return sorted(int(n) for n in re.findall(r'data-number="(\d+)"', html))


def test_mentions_of_me_and_my_team(client, success_manager, success_team, agent, support_team):
    me = new_ticket(team=support_team, email="a@x.example")
    my_team = new_ticket(team=support_team, email="b@x.example")
    someone_else = new_ticket(team=support_team, email="c@x.example")
    MentionFactory(note=NoteFactory(ticket=me, author=agent), user=success_manager)
    MentionFactory(note=NoteFactory(ticket=my_team, author=agent), user=None, team=success_team)
    MentionFactory(note=NoteFactory(ticket=someone_else, author=agent), user=agent)
    for ticket in (me, my_team):  # mentioning grants access (the notes app does this)
        ticket_grant_access(
            ticket=ticket, user=success_manager, reason="mentioned", granted_by=agent
        )
    client.force_login(success_manager)
    assert numbers(client, "mentions") == sorted([me.number, my_team.number])
    html = client.get("/inbox/").content.decode()
    assert re.search(
        r'data-view="mentions"[^>]*>\s*<span>Mentions</span><span class="count">2', html
    )


def test_handoffs_pending_to_me_or_my_team_or_sent_by_me(
    client, success_manager, success_team, agent, support_team
):
    to_me = new_ticket(team=support_team, email="a@x.example")
    to_team = new_ticket(team=support_team, email="b@x.example")
    done = new_ticket(team=support_team, email="c@x.example")
    HandoffFactory(ticket=to_me, from_user=agent, to_user=success_manager)
    HandoffFactory(ticket=to_team, from_user=agent, to_user=None, to_team=success_team)
    HandoffFactory(ticket=done, from_user=agent, to_user=success_manager, status="accepted")
    for ticket in (to_me, to_team, done):
        ticket_grant_access(ticket=ticket, user=success_manager, reason="handoff", granted_by=agent)
    client.force_login(success_manager)
    assert numbers(client, "handoffs") == sorted([to_me.number, to_team.number])
    client.force_login(agent)
    assert numbers(client, "handoffs") == sorted([to_me.number, to_team.number, done.number])


def test_mention_view_still_applies_visibility(client, agent, support_team):
    hidden = new_ticket(team=TeamFactory(name="Hidden", handle="hidden"))
    MentionFactory(note=NoteFactory(ticket=hidden), user=agent)  # no access grant
    client.force_login(agent)
    assert numbers(client, "mentions") == []
