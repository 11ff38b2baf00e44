"""Mention parsing, note_create with mentions, team fan-out and access grants."""

from __future__ import annotations

import pytest

from helpdesk.models import Role
from helpdesk.sanitize import render_markdown
from inbox.models import EventKind, TicketAccess, TicketEvent
from inbox.selectors import ticket_get_for_user
from notes.mentions import mentions_resolve
from notes.models import Mention, Notification, NotificationKind
from notes.selectors import user_ids_who_see_ticket
from notes.services import NoteInvalid, note_create
from tests.helpdesk.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def handles(db):
    """Users and teams whose handles make the tricky cases tricky."""
    return {
        "al": UserFactory(username="al"),
        "alice": UserFactory(username="alice"),
        "alice.b": UserFactory(username="alice.b"),
        "bob": UserFactory(username="bob"),
        "zo": UserFactory(username="zo"),
        "ex": UserFactory(username="ex", is_staff=False),
        "gone": UserFactory(username="gone", is_active=False),
        "support": TeamFactory(handle="support", name="Support"),
        "billing": TeamFactory(handle="billing", name="Billing"),
    }


def resolved(text: str) -> list[str]:
    result = mentions_resolve(html=render_markdown(text))
    return sorted([u.username for u in result.users] + [f"team:{t.handle}" for t in result.teams])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hey @alice can you look", ["alice"]),
        ("@alice, @bob; and (@al)!", ["al", "alice", "bob"]),
        ("thanks @alice.", ["alice"]),
        ("ask @alice.b please", ["alice.b"]),
        ("ask @alice.b.", ["alice.b"]),
        ("@al is a prefix of @alice", ["al", "alice"]),
        ("@ALICE in capitals", ["alice"]),
        ("mail alice@support.example or bob@billing.example", []),
        ("write to x.y-@support.example", []),
        ("code `@alice` and\n\n```\n@bob\n```\n\n    @al indented", []),
        ("inline `@alice` but @bob outside", ["bob"]),
        ("@zoë is not @zo", ["zo"]),
        ("ünïcode @zoë only", []),
        ("café@alice", []),
        ("@nobody and @alice-", ["alice"]),
        ("@@alice", []),
        ("see https://example.com/@alice", []),
        ("team @support please, not @billing's", ["team:billing", "team:support"]),
        ("@ex is not staff and @gone is inactive", []),
        ("**@alice** and _@bob_", ["alice", "bob"]),
        ("@alice @alice @ALICE", ["alice"]),
        ("<b>@bob</b> raw html", ["bob"]),
    ],
)
def test_mention_parsing_tricky_cases(handles, text, expected):
    assert resolved(text) == expected


def test_resolving_many_handles_is_two_queries(handles, django_assert_num_queries):
    text = " ".join(f"@h{i}" for i in range(40)) + " @alice @support"
    html = render_markdown(text)
    with django_assert_num_queries(2):
        result = mentions_resolve(html=html)
    assert [u.username for u in result.users] == ["alice"]


def test_note_renders_sanitised_markdown(ticket, agent):
    note = note_create(
        ticket=ticket,
        author=agent,
        body_markdown="**Careful** <script>alert(1)</script> [x](javascript:alert(1))",
    )
    assert "<strong>Careful</strong>" in note.body_html
    assert "<script" not in note.body_html
    assert "javascript:" not in note.body_html


def test_empty_note_is_refused(ticket, agent):
    with pytest.raises(NoteInvalid):
        note_create(ticket=ticket, author=agent, body_markdown="   ")


def test_note_stores_mentions_and_notifies(ticket, agent, make_user, support_team):
    bob = make_user(Role.AGENT, username="bob")
    MembershipFactory(team=support_team, user=bob)
    note = note_create(ticket=ticket, author=agent, body_markdown="@bob look, and @alice (me)")
    assert {m.user.username for m in Mention.objects.filter(note=note)} == {"bob", "alice"}
    notes = Notification.objects.filter(kind=NotificationKind.MENTIONED)
    # The author is never notified of their own mention.
    assert [(n.recipient.username, n.note_id) for n in notes] == [("bob", note.pk)]
    assert notes[0].target_url == f"/tickets/{ticket.number}/#note-{note.pk}"
    assert "@alice mentioned you" in notes[0].text


def test_team_mention_notifies_every_member_once(ticket, agent, make_user, support_team):
    members = [make_user(Role.AGENT, username=f"m{i}") for i in range(3)]
    for member in members:
        MembershipFactory(team=support_team, user=member)
    note = note_create(ticket=ticket, author=agent, body_markdown="@support and @m0 directly")
    recipients = sorted(Notification.objects.values_list("recipient__username", flat=True))
    assert recipients == ["m0", "m1", "m2"]  # m0 once (direct), the author not at all
    assert Mention.objects.filter(note=note, team=support_team).exists()


def test_team_mention_of_fifty_members_is_a_fixed_number_of_queries(
    ticket, agent, support_team, django_assert_num_queries
):
    big = TeamFactory(handle="everyone", name="Everyone")
    users = UserFactory.create_batch(50)
    for user in users:
        MembershipFactory(team=big, user=user)
        MembershipFactory(team=support_team, user=user)  # all can see the ticket already
    # insert note, touch ticket, resolve users, resolve teams, insert mentions, members,
    # visibility, active recipients, insert notifications, savepoints x2, webhook subscribers
    with django_assert_num_queries(12):
        note_create(ticket=ticket, author=agent, body_markdown="@everyone heads up")
    assert Notification.objects.filter(note__isnull=False).count() == 50
    # the same for 5 members: the count does not grow with the team
    small = TeamFactory(handle="few", name="Few")
    for user in users[:5]:
        MembershipFactory(team=small, user=user)
    with django_assert_num_queries(12):
        note_create(ticket=ticket, author=agent, body_markdown="@few heads up")
    assert Notification.objects.filter(note__isnull=False).count() == 55


def test_mentioning_someone_who_cannot_see_the_ticket_grants_access(ticket, agent, other_agent):
    from django.http import Http404

    with pytest.raises(Http404):
        ticket_get_for_user(user=other_agent, number=ticket.number)
    note_create(ticket=ticket, author=agent, body_markdown="@olga can you check billing?")
    assert ticket_get_for_user(user=other_agent, number=ticket.number) == ticket
    grant = TicketAccess.objects.get(ticket=ticket, user=other_agent)
    assert grant.reason == "mentioned"
    assert grant.granted_by == agent
    event = TicketEvent.objects.get(ticket=ticket, kind=EventKind.ACCESS_GRANTED)
    assert event.data == {"user": other_agent.pk, "reason": "mentioned"}
    assert Notification.objects.get(recipient=other_agent).note is not None


def test_mentioning_someone_who_can_see_grants_nothing(ticket, agent, success_manager):
    note_create(ticket=ticket, author=agent, body_markdown="@sam FYI")
    assert not TicketAccess.objects.exists()  # sam manages the account
    assert not TicketEvent.objects.filter(kind=EventKind.ACCESS_GRANTED).exists()


def test_batched_visibility_matches_ticket_visibility(
    ticket, agent, other_agent, success_manager, admin_user, make_user
):
    outsider_csm = make_user(Role.SUCCESS, username="otto")
    granted = make_user(Role.AGENT, username="gina")
    TicketAccess.objects.create(ticket=ticket, user=granted, reason="granted")
    people = [agent, other_agent, success_manager, admin_user, outsider_csm, granted]
    batched = user_ids_who_see_ticket(ticket=ticket, user_ids=[p.pk for p in people])
    from django.http import Http404

    one_by_one = set()
    for person in people:
        try:
            ticket_get_for_user(user=person, number=ticket.number)
            one_by_one.add(person.pk)
        except Http404:
            pass
    assert batched == one_by_one == {agent.pk, success_manager.pk, admin_user.pk, granted.pk}


# --- properties (hypothesis) -------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

KNOWN = ["al", "alice", "alice.b", "bob", "zo"]
SEPARATORS = [" ", ", ", "; ", "! ", "? ", " (", ") ", "\n", " - ", ": "]


@settings(
    max_examples=200, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(st.sampled_from(KNOWN), min_size=1, max_size=6),
    seps=st.lists(st.sampled_from(SEPARATORS), min_size=6, max_size=6),
)
def test_property_every_separated_handle_is_found(handles, picks, seps):
    text = "".join(f"@{handle}{seps[i]}" for i, handle in enumerate(picks))
    assert resolved(text) == sorted(set(picks))


@settings(
    max_examples=200, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=80))
def test_property_nothing_inside_a_code_block_is_a_mention(handles, text):
    fence = "~~~" if "```" in text else "```"
    body = text.replace("~~~", "")
    assert resolved(f"{fence}\n@alice {body} @bob\n{fence}") == []


@settings(
    max_examples=200, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(local=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,10}", fullmatch=True))
def test_property_email_addresses_are_never_mentions(handles, local):
    assert resolved(f"write to {local}@alice and {local}@support.example") == []
