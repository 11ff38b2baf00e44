"""Note editing (window, history, new mentions), pinning, followers, and races."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from helpdesk.models import Role
from inbox.services import InboundContent, message_add_inbound, ticket_set_status
from notes.models import Handoff, HandoffStatus, Mention, NoteRevision, Notification
from notes.services import (
    HandoffError,
    NoteForbidden,
    NoteInvalid,
    follower_add,
    follower_remove,
    handoff_accept,
    handoff_create,
    note_create,
    note_edit,
    note_set_pinned,
)
from tests.helpdesk.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_author_edits_within_the_window_and_history_is_kept(ticket, agent, settings):
    settings.NOTE_EDIT_WINDOW_MINUTES = 15
    note = note_create(ticket=ticket, author=agent, body_markdown="first *draft*")
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=10)):
        note_edit(note=note, user=agent, body_markdown="second **version**")
    note.refresh_from_db()
    assert note.body_markdown == "second **version**"
    assert "<strong>version</strong>" in note.body_html
    assert note.edited_at is not None
    assert list(NoteRevision.objects.filter(note=note).values_list("body_markdown", flat=True)) == [
        "first *draft*"
    ]


def test_edit_after_the_window_is_refused(ticket, agent, settings):
    settings.NOTE_EDIT_WINDOW_MINUTES = 15
    note = note_create(ticket=ticket, author=agent, body_markdown="first")
    with (
        time_machine.travel(timezone.now() + dt.timedelta(minutes=16)),
        pytest.raises(NoteForbidden, match="15 minutes"),
    ):
        note_edit(note=note, user=agent, body_markdown="late")
    note.refresh_from_db()
    assert note.body_markdown == "first"
    assert not NoteRevision.objects.exists()


def test_only_the_author_edits(ticket, agent, success_manager):
    note = note_create(ticket=ticket, author=agent, body_markdown="mine")
    with pytest.raises(NoteForbidden):
        note_edit(note=note, user=success_manager, body_markdown="theirs")


def test_empty_and_unchanged_edits(ticket, agent):
    note = note_create(ticket=ticket, author=agent, body_markdown="same")
    with pytest.raises(NoteInvalid):
        note_edit(note=note, user=agent, body_markdown="")
    note_edit(note=note, user=agent, body_markdown="same")
    assert not NoteRevision.objects.exists()  # a no-op writes nothing


def test_edit_notifies_only_newly_mentioned(ticket, agent, make_user, support_team):
    bob = make_user(Role.AGENT, username="bob")
    cat = make_user(Role.AGENT, username="cat")
    for user in (bob, cat):
        MembershipFactory(team=support_team, user=user)
    note = note_create(ticket=ticket, author=agent, body_markdown="@bob look")
    note_edit(note=note, user=agent, body_markdown="@bob look, and @cat too")
    assert Notification.objects.filter(recipient=bob).count() == 1
    assert Notification.objects.filter(recipient=cat).count() == 1
    assert set(Mention.objects.filter(note=note).values_list("user__username", flat=True)) == {
        "bob",
        "cat",
    }


def test_pin_and_unpin(ticket, agent):
    note = note_create(ticket=ticket, author=agent, body_markdown="Renewal on May 1")
    assert note_set_pinned(note=note, user=agent, is_pinned=True).is_pinned
    assert not note_set_pinned(note=note, user=agent, is_pinned=False).is_pinned


def test_followers_hear_customer_replies_and_status_changes(
    ticket, agent, success_manager, contact
):
    assert follower_add(ticket=ticket, user=success_manager)
    assert not follower_add(ticket=ticket, user=success_manager)  # already following
    message_add_inbound(ticket=ticket, contact=contact, content=InboundContent(body_text="Hello?"))
    ticket_set_status(ticket=ticket, actor=agent, status="pending")
    kinds = sorted(
        Notification.objects.filter(recipient=success_manager).values_list("kind", flat=True)
    )
    assert kinds == ["customer_replied", "status_changed"]
    assert follower_remove(ticket=ticket, user=success_manager)
    message_add_inbound(ticket=ticket, contact=contact, content=InboundContent(body_text="Again"))
    assert Notification.objects.filter(recipient=success_manager).count() == 2


def _race(target, count=2):
    """Run `target(i)` in threads released together; return their results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_two_people_accepting_at_once_one_wins(make_user, success_team, make_ticket, agent):
    sue = make_user(Role.SUCCESS, username="sue")
    tom = make_user(Role.SUCCESS, username="tom")
    for user in (sue, tom):
        MembershipFactory(team=success_team, user=user)
    ticket = make_ticket()
    handoff = handoff_create(
        ticket=ticket, from_user=agent, to_team=success_team, reason="other", note_markdown="x"
    )
    people = [sue, tom]
    results = _race(lambda i: handoff_accept(handoff=handoff, user=people[i]))
    winners = [r for r in results if isinstance(r, Handoff)]
    losers = [r for r in results if isinstance(r, HandoffError)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert "already accepted" in str(losers[0])
    ticket.refresh_from_db()
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.ACCEPTED
    assert ticket.assignee == handoff.responded_by


@pytest.mark.django_db(transaction=True)
def test_two_escalations_at_once_make_one_pending_handoff(
    make_ticket, agent, success_manager, make_user, support_team
):
    bob = make_user(Role.AGENT, username="bob")
    MembershipFactory(team=support_team, user=bob)
    ticket = make_ticket()
    people = [agent, bob]
    results = _race(
        lambda i: handoff_create(
            ticket=ticket, from_user=people[i], reason="churn_risk", note_markdown=f"from {i}"
        )
    )
    assert sum(isinstance(r, Handoff) for r in results) == 1
    assert sum(isinstance(r, HandoffError) for r in results) == 1
    assert Handoff.objects.filter(ticket=ticket, status="pending").count() == 1
