"""Views: notifications page and bell, handoff endpoints, follow, note edit/pin, autocomplete.

Permissions per role on every view (agent of the ticket's team, agent of another team,
the account's success manager, admin) and query counts that do not grow with rows.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext

from inbox.models import EventKind, TicketEvent
from inbox.services import (
    InboundContent,
    message_add_inbound,
    ticket_assign,
    ticket_set_status,
    ticket_take,
)
from notes.models import Follower, Handoff, HandoffStatus, Note, Notification, NotificationKind
from notes.selectors import ticket_panel_context
from notes.services import handoff_accept, handoff_create, note_create, note_edit
from tests.helpdesk.factories import UserFactory
from tests.notes.factories import (
    FollowerFactory,
    HandoffFactory,
    NoteFactory,
    NotificationFactory,
)

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return response.content.decode()


def bell_count(response) -> int:
    match = re.search(r'class="bell-count" data-unread="(\d+)"', page_text(response))
    assert match, "no bell on the page"
    return int(match.group(1))


# --- notifications ------------------------------------------------------------------------


def test_notifications_page_lists_mine_with_exact_links(client, ticket, agent, success_manager):
    note = note_create(ticket=ticket, author=success_manager, body_markdown="@alice look here")
    NotificationFactory(recipient=success_manager, text="Not for alice")
    client.force_login(agent)
    response = client.get("/notifications/")
    html = page_text(response)
    assert f'href="/tickets/{ticket.number}/#note-{note.pk}"' in html
    assert "@sam mentioned you" in html
    assert "Not for alice" not in html
    assert bell_count(response) == 1


def _last_event(ticket, kind):
    return TicketEvent.objects.filter(ticket=ticket, kind=kind).latest("id")


def test_notifications_link_to_the_exact_event_or_message(
    client, ticket, agent, success_manager, contact
):
    """Assigned, status changed, customer replied: each link lands on its timeline item."""
    ticket_assign(ticket=ticket, actor=success_manager, assignee=agent)
    assigned = _last_event(ticket, EventKind.ASSIGNED)
    ticket_set_status(ticket=ticket, actor=success_manager, status="pending")
    status = _last_event(ticket, EventKind.STATUS)
    message = message_add_inbound(
        ticket=ticket, contact=contact, content=InboundContent(body_text="Still broken")
    )
    client.force_login(agent)
    html = page_text(client.get("/notifications/"))
    by_kind = {n.kind: n for n in Notification.objects.filter(recipient=agent)}
    base = f"/tickets/{ticket.number}/"
    expected = {
        NotificationKind.ASSIGNED: f"{base}#event-{assigned.pk}",
        NotificationKind.STATUS_CHANGED: f"{base}#event-{status.pk}",
        NotificationKind.CUSTOMER_REPLIED: f"{base}#message-{message.pk}",
    }
    assert {kind: by_kind[kind].target_url for kind in expected} == expected
    for url in expected.values():
        assert f'href="{url}"' in html
    ticket_html = page_text(client.get(base))
    assert f'id="event-{assigned.pk}"' in ticket_html
    assert f'id="event-{status.pk}"' in ticket_html
    assert f'id="message-{message.pk}"' in ticket_html


def test_assigned_to_me_notifies_the_assignee_but_not_a_self_assignment(
    client, ticket, make_ticket, agent, success_manager
):
    ticket_assign(ticket=ticket, actor=success_manager, assignee=agent)
    ticket_take(ticket=make_ticket(subject="Mine now"), user=agent)  # nobody to tell
    client.force_login(agent)
    response = client.get("/notifications/")
    html = page_text(response)
    assert f"#{ticket.number} was assigned to you" in html
    assert html.count('data-kind="assigned"') == 1
    assert bell_count(response) == 1
    assert not Notification.objects.filter(recipient=success_manager).exists()


def test_mark_one_read_and_all_read(client, agent, success_manager):
    mine = NotificationFactory.create_batch(3, recipient=agent)
    theirs = NotificationFactory(recipient=success_manager)
    client.force_login(agent)
    response = client.post(f"/notifications/{mine[0].pk}/read/")
    assert response.status_code == 303
    assert bell_count(client.get("/notifications/")) == 2
    # someone else's notification id changes nothing
    client.post(f"/notifications/{theirs.pk}/read/")
    theirs.refresh_from_db()
    assert theirs.read_at is None
    client.post("/notifications/read-all/")
    response = client.get("/notifications/")
    assert bell_count(response) == 0
    assert 'class="unread"' not in page_text(response)
    assert Notification.objects.filter(recipient=agent, read_at__isnull=True).count() == 0


def test_mark_read_needs_post(client, agent):
    notification = NotificationFactory(recipient=agent)
    client.force_login(agent)
    assert client.get(f"/notifications/{notification.pk}/read/").status_code == 405


def test_bell_shows_on_every_page(client, agent):
    NotificationFactory.create_batch(4, recipient=agent)
    client.force_login(agent)
    assert bell_count(client.get("/inbox/")) == 4


def test_unread_count_is_one_query(rf, agent, django_assert_num_queries):
    from notes.context_processors import notifications

    NotificationFactory.create_batch(7, recipient=agent)
    request = rf.get("/")
    request.user = agent
    with django_assert_num_queries(1):
        assert notifications(request) == {"unread_notification_count": 7}


def test_anonymous_is_sent_to_login(client):
    for url in ["/notifications/", "/mentions/autocomplete/?q=a", "/notifications/preferences/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_notifications_page_query_count_is_flat(client, agent, ticket, django_assert_num_queries):
    actor = UserFactory()
    NotificationFactory.create_batch(5, recipient=agent, ticket=ticket, actor=actor)
    client.force_login(agent)
    client.get("/notifications/")  # warm the session
    # user, unread count, notifications (+ actor, ticket, account joined); the session is
    # read from the cache
    with django_assert_num_queries(3):
        response = client.get("/notifications/")
    assert page_text(response).count('id="notification-') == 5
    NotificationFactory.create_batch(45, recipient=agent, ticket=ticket, actor=UserFactory())
    with django_assert_num_queries(3):
        response = client.get("/notifications/")
    assert page_text(response).count('id="notification-') == 50


def test_preferences_are_saved_per_kind(client, agent):
    client.force_login(agent)
    response = client.get("/notifications/preferences/")
    html = page_text(response)
    for kind, label in NotificationKind.choices:  # every kind can be set on its own
        assert f'name="{kind}"' in html, kind
        assert label in html, kind
    client.post("/notifications/preferences/", {"mentioned": "immediate", "assigned": "off"})
    prefs = dict(agent.notification_prefs.values_list("kind", "email"))
    assert prefs == {"mentioned": "immediate", "assigned": "off"}


# --- autocomplete ------------------------------------------------------------------------------


def test_autocomplete_lists_staff_users_and_teams_only(client, agent, support_team, success_team):
    UserFactory(username="sally", is_staff=False)
    UserFactory(username="sandra", is_active=False)
    UserFactory(username="sarah")
    client.force_login(agent)
    html = page_text(client.get("/mentions/autocomplete/?q=s"))
    handles = re.findall(r'data-handle="([^"]+)"', html)
    assert "sarah" in handles
    assert "support" in handles
    assert "success" in handles
    assert "sally" not in handles
    assert "sandra" not in handles
    assert "<ul" in html


def test_autocomplete_escapes_names(client, agent):
    UserFactory(username="xss", first_name="<script>alert(1)</script>", last_name="X")
    client.force_login(agent)
    html = page_text(client.get("/mentions/autocomplete/?q=xss"))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


# --- the ticket panel ----------------------------------------------------------------------


def test_panel_shows_escalate_form_with_reasons_and_default_target(client, ticket, agent):
    client.force_login(agent)
    html = page_text(client.get(f"/tickets/{ticket.number}/"))
    for label in [
        "Renewal risk",
        "Churn risk",
        "Expansion opportunity",
        "Onboarding help",
        "Executive complaint",
        "Other",
    ]:
        assert label in html
    assert re.search(r'<option value="user:\d+" selected>@sam', html)
    assert "@success — Success (team)" in html
    assert 'name="note"' in html
    assert "required" in html


def test_panel_shows_receiver_buttons_only_to_the_receiver(client, ticket, agent, success_manager):
    handoff = handoff_create(
        ticket=ticket, from_user=agent, reason="churn_risk", note_markdown="Unhappy CFO"
    )
    client.force_login(success_manager)
    html = page_text(client.get(f"/tickets/{ticket.number}/"))
    assert f'id="handoff-{handoff.pk}"' in html
    assert "Unhappy CFO" in html
    assert f"/handoffs/{handoff.pk}/accept/" in html
    assert f"/handoffs/{handoff.pk}/decline/" in html
    assert 'id="escalate-form"' not in html  # one pending handoff at a time
    client.force_login(agent)
    html = page_text(client.get(f"/tickets/{ticket.number}/"))
    assert f"/handoffs/{handoff.pk}/accept/" not in html
    assert f"/handoffs/{handoff.pk}/cancel/" in html


def _panel_queries(ticket, user) -> int:
    with CaptureQueriesContext(connection) as queries:
        context = ticket_panel_context(ticket=ticket, user=user)
        context["ticket"] = ticket
        render_to_string("notes/partials/ticket_panel.html", context)
    return len(queries)


def _fill_panel(ticket, n):
    for _ in range(n):
        HandoffFactory(
            ticket=ticket, status=HandoffStatus.DECLINED, context_note=NoteFactory(ticket=ticket)
        )
        FollowerFactory(ticket=ticket)
        NoteFactory(ticket=ticket, is_pinned=True)


def test_panel_query_count_is_fixed(ticket, agent):
    from inbox.selectors import ticket_get_for_user

    ticket = ticket_get_for_user(user=agent, number=ticket.number)  # as the page fetches it
    _fill_panel(ticket, 5)
    # handoffs, followers, pinned notes, my teams, success people, success teams
    assert _panel_queries(ticket, agent) == 6
    _fill_panel(ticket, 45)
    assert _panel_queries(ticket, agent) == 6
    html = render_to_string(
        "notes/partials/ticket_panel.html",
        {**ticket_panel_context(ticket=ticket, user=agent), "ticket": ticket},
    )
    assert html.count('class="handoff"') == 50


def test_ticket_page_query_count_does_not_grow_with_panel_rows(client, ticket, agent):
    client.force_login(agent)
    _fill_panel(ticket, 5)
    client.get(f"/tickets/{ticket.number}/")
    with CaptureQueriesContext(connection) as five:
        client.get(f"/tickets/{ticket.number}/")
    _fill_panel(ticket, 45)
    with CaptureQueriesContext(connection) as fifty:
        response = client.get(f"/tickets/{ticket.number}/")
    assert len(five) == len(fifty)
    assert page_text(response).count('class="follower"') == 50


# --- permissions per role on every view ----------------------------------------------------

# (role fixture, expected status) for a plain ticket of the support team on sam's account.
ROLES = ["agent", "other_agent", "success_manager", "admin_user"]


@pytest.fixture
def people(agent, other_agent, success_manager, admin_user):
    return {
        "agent": agent,
        "other_agent": other_agent,
        "success_manager": success_manager,
        "admin_user": admin_user,
    }


@pytest.mark.parametrize(
    ("role", "expected"),
    [("agent", 303), ("other_agent", 404), ("success_manager", 303), ("admin_user", 303)],
)
def test_follow_and_unfollow_per_role(client, ticket, people, role, expected):
    user = people[role]
    client.force_login(user)
    assert client.post(f"/tickets/{ticket.number}/follow/").status_code == expected
    assert Follower.objects.filter(ticket=ticket, user=user).exists() == (expected == 303)
    assert client.post(f"/tickets/{ticket.number}/unfollow/").status_code == expected
    assert not Follower.objects.filter(ticket=ticket, user=user).exists()


@pytest.mark.parametrize(
    ("role", "expected"),
    [("agent", 303), ("other_agent", 404), ("success_manager", 400), ("admin_user", 303)],
)
def test_escalate_per_role(client, ticket, people, role, expected):
    # sam escalating to himself (the default) is refused with the form re-rendered (400)
    client.force_login(people[role])
    response = client.post(
        f"/tickets/{ticket.number}/handoffs/",
        {"reason": "renewal_risk", "target": "", "note": "Renewal in May, unhappy"},
    )
    assert response.status_code == expected
    assert Handoff.objects.exists() == (expected == 303)
    if expected == 400:
        assert "cannot hand a ticket to yourself" in page_text(response)
    if expected == 303:
        handoff = Handoff.objects.get()
        assert response["Location"] == f"/tickets/{ticket.number}/#handoff-{handoff.pk}"


def test_escalate_form_errors_rerender_the_form(client, ticket, agent):
    client.force_login(agent)
    response = client.post(
        f"/tickets/{ticket.number}/handoffs/", {"reason": "nope", "target": "user:abc", "note": ""}
    )
    html = page_text(response)
    assert response.status_code == 400
    assert "Write a context note." in html
    assert "Select a valid choice" in html
    assert 'id="escalate-form"' in html
    assert not Handoff.objects.exists()


def test_escalate_target_must_be_a_success_person(client, ticket, agent, other_agent, support_team):
    client.force_login(agent)
    for target in [f"user:{other_agent.pk}", f"team:{support_team.pk}"]:
        response = client.post(
            f"/tickets/{ticket.number}/handoffs/",
            {"reason": "other", "target": target, "note": "x"},
        )
        assert response.status_code == 400
    assert not Handoff.objects.exists()


def test_escalate_to_team_from_form(client, ticket, agent, success_team):
    client.force_login(agent)
    response = client.post(
        f"/tickets/{ticket.number}/handoffs/",
        {"reason": "expansion", "target": f"team:{success_team.pk}", "note": "Wants 50 seats"},
    )
    assert response.status_code == 303
    assert Handoff.objects.get().to_team == success_team


@pytest.mark.parametrize(
    ("role", "expected"),
    [("agent", 400), ("other_agent", 404), ("success_manager", 303), ("admin_user", 303)],
)
def test_accept_per_role(client, ticket, agent, people, role, expected):
    handoff = handoff_create(ticket=ticket, from_user=agent, reason="other", note_markdown="x")
    client.force_login(people[role])
    response = client.post(f"/handoffs/{handoff.pk}/accept/")
    assert response.status_code == expected
    handoff.refresh_from_db()
    assert (handoff.status == "accepted") == (expected == 303)
    if expected == 400:
        assert "Only the person or team it was handed to can accept it." in page_text(response)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("agent", 400), ("other_agent", 404), ("success_manager", 303), ("admin_user", 303)],
)
def test_decline_per_role(client, ticket, agent, people, role, expected):
    handoff = handoff_create(ticket=ticket, from_user=agent, reason="other", note_markdown="x")
    client.force_login(people[role])
    response = client.post(f"/handoffs/{handoff.pk}/decline/", {"reason": "Not ours"})
    assert response.status_code == expected
    handoff.refresh_from_db()
    assert (handoff.status == "declined") == (expected == 303)


def test_decline_without_reason_rerenders_with_error(client, ticket, agent, success_manager):
    handoff = handoff_create(ticket=ticket, from_user=agent, reason="other", note_markdown="x")
    client.force_login(success_manager)
    response = client.post(f"/handoffs/{handoff.pk}/decline/", {"reason": ""})
    assert response.status_code == 400
    assert "Say why you decline the handoff." in page_text(response)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("agent", 400), ("other_agent", 404), ("success_manager", 303), ("admin_user", 303)],
)
def test_return_per_role(client, ticket, agent, people, success_manager, role, expected):
    handoff = handoff_create(ticket=ticket, from_user=agent, reason="other", note_markdown="x")
    handoff_accept(handoff=handoff, user=success_manager)
    client.force_login(people[role])
    response = client.post(f"/handoffs/{handoff.pk}/return/", {"note": "All sorted"})
    assert response.status_code == expected
    handoff.refresh_from_db()
    assert (handoff.status == "completed") == (expected == 303)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("agent", 400), ("other_agent", 404), ("success_manager", 303), ("admin_user", 303)],
)
def test_transfer_per_role(client, ticket, agent, people, make_user, role, expected):
    from helpdesk.models import Role

    sue = make_user(Role.SUCCESS, username="sue")
    handoff = handoff_create(ticket=ticket, from_user=agent, reason="other", note_markdown="x")
    client.force_login(people[role])
    response = client.post(
        f"/handoffs/{handoff.pk}/transfer/", {"to_user": sue.pk, "note": "Sue knows them"}
    )
    assert response.status_code == expected
    assert Handoff.objects.filter(to_user=sue, status="pending").exists() == (expected == 303)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("agent", 303), ("other_agent", 404), ("success_manager", 400), ("admin_user", 303)],
)
def test_cancel_per_role(client, ticket, agent, people, role, expected):
    handoff = handoff_create(ticket=ticket, from_user=agent, reason="other", note_markdown="x")
    client.force_login(people[role])
    assert client.post(f"/handoffs/{handoff.pk}/cancel/").status_code == expected


def test_unknown_handoff_and_action_are_404(client, ticket, agent):
    handoff = handoff_create(ticket=ticket, from_user=agent, reason="other", note_markdown="x")
    client.force_login(agent)
    assert client.post("/handoffs/999999/accept/").status_code == 404
    assert client.post(f"/handoffs/{handoff.pk}/explode/").status_code == 404


def test_accepting_a_declined_handoff_is_refused_with_a_message(
    client, ticket, agent, success_manager
):
    handoff = handoff_create(ticket=ticket, from_user=agent, reason="other", note_markdown="x")
    client.force_login(success_manager)
    client.post(f"/handoffs/{handoff.pk}/decline/", {"reason": "No"})
    response = client.post(f"/handoffs/{handoff.pk}/accept/")
    assert response.status_code == 400
    assert "This handoff was declined; it cannot be answered again." in page_text(response)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("agent", 303), ("other_agent", 404), ("success_manager", 403), ("admin_user", 403)],
)
def test_note_edit_per_role(client, ticket, agent, people, role, expected):
    note = note_create(ticket=ticket, author=agent, body_markdown="first")
    client.force_login(people[role])
    response = client.post(f"/notes/{note.pk}/edit/", {"body": "second"})
    assert response.status_code == expected
    note.refresh_from_db()
    assert (note.body_markdown == "second") == (expected == 303)
    if expected == 403:
        assert "Only the author can edit a note." in page_text(response)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("agent", 303), ("other_agent", 404), ("success_manager", 303), ("admin_user", 303)],
)
def test_note_pin_per_role(client, ticket, agent, people, role, expected):
    note = note_create(ticket=ticket, author=agent, body_markdown="Key fact: renewal in May")
    client.force_login(people[role])
    assert client.post(f"/notes/{note.pk}/pin/").status_code == expected
    note.refresh_from_db()
    assert note.is_pinned == (expected == 303)
    if expected == 303:
        html = page_text(client.get(f"/tickets/{ticket.number}/"))
        assert 'id="pinned-notes"' in html
        assert "Key fact: renewal in May" in html
        assert client.post(f"/notes/{note.pk}/unpin/").status_code == 303
        assert not Note.objects.get(pk=note.pk).is_pinned


@pytest.mark.parametrize("role", ROLES)
def test_autocomplete_and_notifications_work_for_every_role(client, people, role):
    client.force_login(people[role])
    assert client.get("/notifications/").status_code == 200
    assert client.get("/mentions/autocomplete/?q=a").status_code == 200


def test_ticket_page_notes_have_edit_for_the_author_and_pin_for_everyone(
    client, ticket, agent, success_manager
):
    note = note_create(ticket=ticket, author=agent, body_markdown="Renewal is in May")
    edit_url, pin_url = f"/notes/{note.pk}/edit/", f"/notes/{note.pk}/pin/"
    client.force_login(agent)
    html = page_text(client.get(f"/tickets/{ticket.number}/"))
    assert f'id="note-{note.pk}"' in html
    assert f'href="{edit_url}"' in html
    assert f'action="{pin_url}"' in html

    client.force_login(success_manager)  # not the author: may pin, may not edit
    html = page_text(client.get(f"/tickets/{ticket.number}/"))
    assert f'href="{edit_url}"' not in html
    assert f'action="{pin_url}"' in html
    assert client.post(pin_url).status_code == 303
    html = page_text(client.get(f"/tickets/{ticket.number}/"))
    assert f'action="/notes/{note.pk}/unpin/"' in html
    assert f'action="{pin_url}"' not in html


def test_edit_link_disappears_when_the_edit_window_closes(client, ticket, agent, settings):
    settings.NOTE_EDIT_WINDOW_MINUTES = 15
    note = note_create(ticket=ticket, author=agent, body_markdown="Typo here")
    client.force_login(agent)
    later = note.created_at + dt.timedelta(minutes=16)
    with time_machine.travel(later, tick=False):
        html = page_text(client.get(f"/tickets/{ticket.number}/"))
        assert f'href="/notes/{note.pk}/edit/"' not in html
        assert f'action="/notes/{note.pk}/pin/"' in html  # pinning has no window
        response = client.post(f"/notes/{note.pk}/edit/", {"body": "Too late"})
        assert response.status_code == 403
        assert "Notes can be edited for 15 minutes after posting." in page_text(response)


def test_note_edit_page_shows_the_edit_history(client, ticket, agent):
    note = note_create(ticket=ticket, author=agent, body_markdown="Call them on Monday")
    note_edit(note=note, user=agent, body_markdown="Call them on Tuesday")
    client.force_login(agent)
    response = client.post(f"/notes/{note.pk}/edit/", {"body": "Call them on **Wednesday**"})
    assert response.status_code == 303
    assert response["Location"] == f"/tickets/{ticket.number}/#note-{note.pk}"
    html = page_text(client.get(f"/notes/{note.pk}/edit/"))
    assert "Earlier versions" in html
    assert html.index("Call them on Monday") < html.index("Call them on Tuesday")
    assert "Call them on **Wednesday**</textarea>" in html  # the current text, to edit
    ticket_html = page_text(client.get(f"/tickets/{ticket.number}/"))
    assert "Call them on <strong>Wednesday</strong>" in ticket_html
    assert f'href="/notes/{note.pk}/edit/" title="Edited' in ticket_html  # the history link


def test_note_partial_has_anchor_and_controls(rf, ticket, agent, success_manager):
    note = note_create(ticket=ticket, author=agent, body_markdown="**Bold** <script>x</script>")
    request = rf.get("/")
    request.user = agent
    html = render_to_string(
        "notes/partials/note.html", {"note": note, "user": agent}, request=request
    )
    assert f'id="note-{note.pk}"' in html
    assert "<strong>Bold</strong>" in html
    assert "<script>" not in html
    assert f"/notes/{note.pk}/edit/" in html
    assert f"/notes/{note.pk}/pin/" in html
    html = render_to_string(
        "notes/partials/note.html", {"note": note, "user": success_manager}, request=request
    )
    assert f"/notes/{note.pk}/edit/" not in html  # only the author edits


def _notes_routes():
    from notes.urls import urlpatterns

    kwargs = {
        "notification_id": 1,
        "number": 1,
        "handoff_id": 1,
        "action": "accept",
        "note_id": 1,
    }
    from django.urls import reverse

    for pattern in urlpatterns:
        wanted = {k: v for k, v in kwargs.items() if k in pattern.pattern.converters}
        yield pattern.name, reverse(f"notes:{pattern.name}", kwargs=wanted)


@pytest.mark.parametrize(("name", "url"), list(_notes_routes()))
def test_every_notes_route_needs_login(client, name, url):
    """Generated from notes/urls.py: a new route without login_required fails here."""
    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith("/login/"), name


def test_success_manager_is_not_offered_themselves_as_target(client, ticket, success_manager):
    client.force_login(success_manager)
    html = page_text(client.get(f"/tickets/{ticket.number}/"))
    assert f'value="user:{success_manager.pk}"' not in html
    assert "@success — Success (team)" in html
