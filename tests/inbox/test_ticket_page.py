"""The ticket page: timeline, composer (reply / note / stale warning), controls, query count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import AccountMetrics
from helpdesk.models import CannedResponse, Macro
from inbox.models import EventKind, Message, OutboundEmail, Ticket, TicketEvent
from inbox.services import (
    InboundContent,
    message_add_inbound,
    reply_create,
    ticket_assign,
    ticket_set_tags,
)
from notes.models import Note
from notes.services import note_create
from tests.inbox.inbox_helpers import new_ticket

pytestmark = pytest.mark.django_db


def page(client, ticket) -> str:
    response = client.get(f"/tickets/{ticket.number}/")
    assert response.status_code == 200
    return response.content.decode()


def test_timeline_shows_messages_notes_events_and_side_panel(
    client, agent, support_team, contact, account
):
    ticket = new_ticket(team=support_team, email=contact.email, subject="Cannot log in")
    reply_create(ticket=ticket, author=agent, body_text="Have you tried resetting?")
    note_create(ticket=ticket, author=agent, body_markdown="**Customer** is on the old SSO")
    pinned = note_create(ticket=ticket, author=agent, body_markdown="VIP account, be quick")
    Note.objects.filter(pk=pinned.pk).update(is_pinned=True)
    ticket_assign(ticket=ticket, actor=agent, assignee=agent)
    other = new_ticket(team=support_team, email=contact.email, subject="Second problem")
    AccountMetrics.objects.create(account=account, health_band="red", health_score=31)
    client.force_login(agent)
    html = page(client, ticket)
    assert "Cannot log in" in html
    assert "Hello, I have problem" in html  # the customer's message
    assert "Have you tried resetting?" in html
    assert "<strong>Customer</strong> is on the old SSO" in html  # rendered Markdown
    assert html.count("Internal note") >= 2  # visibly internal
    assert "Pinned · Internal" in html
    assert html.index("VIP account") < html.index("timeline")
    assert "took this ticket" in html  # the agent assigned it to herself
    assert "Acme" in html
    assert "pro" in html
    assert "Red" in html
    assert f"#{other.number} Second problem" in html  # requester's other open tickets
    assert 'id="composer"' in html
    assert "data-mentions" in html
    assert "tandem/mentions.js" in html


def test_ticket_page_without_metrics_row(client, agent, support_team, contact):
    ticket = new_ticket(team=support_team, email=contact.email)
    client.force_login(agent)
    assert "Acme" in page(client, ticket)


def test_reply_is_sent_and_emailed(client, agent, support_team):
    ticket = new_ticket(team=support_team)
    client.force_login(agent)
    upload = SimpleUploadedFile("log.txt", b"stack trace", content_type="text/plain")
    response = client.post(
        f"/tickets/{ticket.number}/compose/",
        {"mode": "reply", "body": "We fixed it.", "then_status": "pending", "attachments": upload},
    )
    assert response.status_code == 302
    html = page(client, ticket)
    assert "Reply sent." in html
    assert "We fixed it." in html
    assert "log.txt" in html
    message = Message.objects.get(ticket=ticket, direction="outbound")
    assert message.attachments.get().sha256
    assert OutboundEmail.objects.get(ticket_message=message).body_text.startswith("We fixed it.")
    ticket.refresh_from_db()
    assert ticket.status == "pending"
    assert ticket.first_response_at is not None


def test_delivery_status_shows_queued_sent_and_failed_with_the_reason(
    client, agent, support_team, django_capture_on_commit_callbacks
):
    from inbox.outbound import outbound_mark_bounced

    ticket = new_ticket(team=support_team)
    queued = reply_create(ticket=ticket, author=agent, body_text="Still in the outbox")
    with django_capture_on_commit_callbacks(execute=True):  # the send task runs (eager)
        sent = reply_create(ticket=ticket, author=agent, body_text="Delivered one")
    with django_capture_on_commit_callbacks(execute=True):
        failed = reply_create(ticket=ticket, author=agent, body_text="Bounced one")
    failed.refresh_from_db()
    outbound_mark_bounced(message_ids=[failed.message_id], reason="5.1.1 user unknown")
    client.force_login(agent)
    html = page(client, ticket)

    def item(message) -> str:
        start = html.index(f'id="message-{message.pk}"')
        return html[start : html.index("</li>", start)]

    assert "Queued, sending" in item(queued)
    sent.refresh_from_db()
    assert f"Sent {timezone.localtime(sent.sent_at):%b %-d, %H:%M}" in item(sent)
    assert "Not delivered" not in item(sent)
    assert "Not delivered" in item(failed)
    assert "bounced: 5.1.1 user unknown" in item(failed)
    inbound = Message.objects.get(ticket=ticket, direction="inbound")
    for word in ("Queued", "Sent", "Not delivered"):  # the customer's mail has no status
        assert word not in item(inbound)


def test_note_is_internal_and_never_emailed(client, agent, support_team):
    ticket = new_ticket(team=support_team)
    client.force_login(agent)
    response = client.post(
        f"/tickets/{ticket.number}/compose/", {"mode": "note", "body": "Checked the logs"}
    )
    assert response.status_code == 302
    assert "Checked the logs" in page(client, ticket)
    assert Note.objects.get(ticket=ticket).body_markdown == "Checked the logs"
    assert not OutboundEmail.objects.filter(ticket=ticket).exists()
    assert not Message.objects.filter(ticket=ticket, direction="outbound").exists()


def test_empty_body_rerenders_with_error(client, agent, support_team):
    ticket = new_ticket(team=support_team)
    client.force_login(agent)
    response = client.post(f"/tickets/{ticket.number}/compose/", {"mode": "reply", "body": " "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_stale_composer_warns_and_shows_new_activity_first(
    client, agent, other_agent, support_team
):
    ticket = new_ticket(team=support_team)
    loaded_at = timezone.now()
    colleague = other_agent
    colleague.memberships.create(team=support_team)
    reply_create(ticket=ticket, author=colleague, body_text="I already answered this!")
    message_add_inbound(
        ticket=ticket, contact=ticket.requester, content=InboundContent(body_text="Thanks both")
    )
    client.force_login(agent)
    data = {"mode": "reply", "body": "Here is my answer", "loaded_at": loaded_at.isoformat()}
    response = client.post(f"/tickets/{ticket.number}/compose/", data)
    html = response.content.decode()
    assert response.status_code == 409
    assert "New activity since you opened this ticket" in html
    assert "I already answered this!" in html
    assert "Thanks both" in html
    assert "Here is my answer" in html  # the draft is kept
    assert Message.objects.filter(ticket=ticket, body_text="Here is my answer").count() == 0
    # Sending again with the confirmation goes through.
    response = client.post(f"/tickets/{ticket.number}/compose/", {**data, "confirm": "on"})
    assert response.status_code == 302
    assert Message.objects.filter(ticket=ticket, body_text="Here is my answer").count() == 1


def test_own_earlier_reply_does_not_trigger_the_warning(client, agent, support_team):
    ticket = new_ticket(team=support_team)
    loaded_at = timezone.now()
    reply_create(ticket=ticket, author=agent, body_text="first")
    client.force_login(agent)
    response = client.post(
        f"/tickets/{ticket.number}/compose/",
        {"mode": "note", "body": "n", "loaded_at": loaded_at.isoformat()},
    )
    assert response.status_code == 302


def test_take_and_taken_by_someone_else(client, agent, support_team, make_user):
    ticket = new_ticket(team=support_team)
    client.force_login(agent)
    assert client.post(f"/tickets/{ticket.number}/take/").status_code == 302
    assert "Assignee: <strong>" in page(client, ticket)
    bob = make_user(username="bob", first_name="Bob", last_name="Builder")
    bob.memberships.create(team=support_team)
    client.force_login(bob)
    response = client.post(f"/tickets/{ticket.number}/take/")
    assert response.status_code == 409
    assert f"{agent.get_full_name()} already has this ticket." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.assignee == agent


def test_update_controls_record_events(client, agent, support_team, make_user):
    ticket = new_ticket(team=support_team)
    bob = make_user(username="bob")
    client.force_login(agent)
    response = client.post(
        f"/tickets/{ticket.number}/update/",
        {
            "status": "open",
            "priority": "high",
            "assignee": bob.pk,
            "team": support_team.pk,
            "tags": "billing, Refund",
        },
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee) == ("open", "high", bob)
    assert sorted(t.name for t in ticket.tags.all()) == ["billing", "refund"]
    kinds = set(TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True))
    assert {"status", "priority", "assigned", "tags"} <= kinds
    html = page(client, ticket)
    assert "changed priority normal → high" in html
    bad = client.post(f"/tickets/{ticket.number}/update/", {"status": "zzz", "priority": "high"})
    assert bad.status_code == 400
    assert "Select a valid choice" in bad.content.decode()


def test_solve_button(client, agent, support_team):
    ticket = new_ticket(team=support_team)
    client.force_login(agent)
    client.post(f"/tickets/{ticket.number}/status/", {"status": "solved"})
    ticket.refresh_from_db()
    assert ticket.status == "solved"
    assert "is now solved" in page(client, ticket)


def test_merge_view(client, agent, support_team):
    source = new_ticket(team=support_team, subject="Dup", body="Same issue again")
    target = new_ticket(team=support_team, subject="Original")
    client.force_login(agent)
    response = client.post(f"/tickets/{source.number}/merge/", {"target": target.number})
    assert response["Location"] == f"/tickets/{target.number}/"
    html = page(client, target)
    assert "Same issue again" in html
    assert f"merged #{source.number} into this ticket" in html
    assert f'was merged into <a href="/tickets/{target.number}/">' in page(client, source)
    bad = client.post(f"/tickets/{target.number}/merge/", {"target": target.number})
    assert bad.status_code == 400
    assert "cannot be merged into itself" in bad.content.decode()


def test_snooze_view(client, agent, support_team):
    ticket = new_ticket(team=support_team)
    client.force_login(agent)
    response = client.post(f"/tickets/{ticket.number}/snooze/", {"hours": "4"})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.snoozed_until > timezone.now() + dt.timedelta(hours=3)
    assert "Snoozed until" in page(client, ticket)
    client.post(f"/tickets/{ticket.number}/snooze/", {"wake": "1"})
    ticket.refresh_from_db()
    assert ticket.snoozed_until is None
    bad = client.post(f"/tickets/{ticket.number}/snooze/", {})
    assert bad.status_code == 400


def test_canned_response_placeholders(client, agent, support_team, contact, other_agent):
    ticket = new_ticket(team=support_team, email=contact.email)
    canned = CannedResponse.objects.create(
        title="Hello",
        body="Hi {{ requester.first_name }}, about #{{ticket.number}} at "
        "{{ account.name }}. {{ requester.password }} — {{ agent.first_name }}",
    )
    private = CannedResponse.objects.create(title="Mine", body="x", owner=other_agent)
    client.force_login(agent)
    assert "Hello" in page(client, ticket)
    text = client.get(f"/tickets/{ticket.number}/canned/{canned.pk}/").content.decode()
    assert text == (
        f"Hi Carol, about #{ticket.number} at Acme. {{{{ requester.password }}}} — "
        f"{agent.first_name}"
    )
    assert client.get(f"/tickets/{ticket.number}/canned/{private.pk}/").status_code == 404


def test_macro_replies_and_changes_fields(client, agent, support_team, contact):
    ticket = new_ticket(team=support_team, email=contact.email)
    canned = CannedResponse.objects.create(
        title="Refund", body="Refunded, {{ requester.first_name }}."
    )
    macro = Macro.objects.create(
        name="Refund and solve", canned_response=canned, set_status="solved", add_tags=["refund"]
    )
    client.force_login(agent)
    response = client.post(f"/tickets/{ticket.number}/macro/", {"macro": macro.pk})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == "solved"
    assert [t.name for t in ticket.tags.all()] == ["refund"]
    assert Message.objects.get(ticket=ticket, direction="outbound").body_text == "Refunded, Carol."


def test_presence_shows_other_viewers_and_writers(client, agent, support_team, make_user):
    from django.core.cache import cache

    cache.clear()
    ticket = new_ticket(team=support_team)
    bob = make_user(username="bob", first_name="Bob", last_name="B")
    bob.memberships.create(team=support_team)
    client.force_login(bob)
    client.post(f"/tickets/{ticket.number}/presence/", {"typing": "1"})
    client.force_login(agent)
    html = client.get(f"/tickets/{ticket.number}/presence/").content.decode()
    assert "Bob B is writing" in html
    assert agent.get_full_name() not in html  # I am not shown to myself


@pytest.mark.parametrize("size", [5, 50])
def test_ticket_page_query_count_is_flat(
    client, agent, support_team, contact, django_assert_num_queries, size
):
    ticket = new_ticket(team=support_team, email=contact.email)
    ticket_set_tags(ticket=ticket, actor=agent, names=["a", "b"])
    for i in range(size):
        if i % 2:
            message_add_inbound(
                ticket=ticket, contact=contact, content=InboundContent(body_text=f"msg {i}")
            )
        else:
            reply_create(ticket=ticket, author=agent, body_text=f"reply {i}")
        note_create(ticket=ticket, author=agent, body_markdown=f"note {i}")
    new_ticket(team=support_team, email=contact.email)
    CannedResponse.objects.create(title="c", body="b")
    Macro.objects.create(name="m", set_status="pending")
    client.force_login(agent)
    client.get(f"/tickets/{ticket.number}/")
    # user, ticket (+requester, account, team, assignee; health and tags as subqueries),
    # messages, attachments, notes (pinned ones too), events, team ids, other open tickets,
    # canned, macros, staff (success people too), teams (success teams too), unread bell,
    # collaboration panel (handoffs, followers)
    with django_assert_num_queries(15):
        response = client.get(f"/tickets/{ticket.number}/")
    html = response.content.decode()
    assert html.count('class="item note"') == size
    assert Ticket.objects.get(pk=ticket.pk).messages.count() == size + 1
    assert EventKind.TAGS in TicketEvent.objects.filter(ticket=ticket).values_list(
        "kind", flat=True
    )


def test_take_over_from_a_colleague_is_explicit(client, agent, support_team, make_user):
    ticket = new_ticket(team=support_team)
    bob = make_user(username="bob", first_name="Bob", last_name="Builder")
    bob.memberships.create(team=support_team)
    ticket_assign(ticket=ticket, actor=bob, assignee=bob)
    client.force_login(agent)
    html = page(client, ticket)
    assert "Take over from Bob Builder" in html
    assert "took this ticket" in html
    client.post(f"/tickets/{ticket.number}/assign/", {"assignee": agent.pk})
    ticket.refresh_from_db()
    assert ticket.assignee == agent


def test_attachment_download_is_permission_checked(client, agent, other_agent, support_team):
    ticket = new_ticket(team=support_team)
    client.force_login(agent)
    upload = SimpleUploadedFile("evil.html", b"<script>alert(1)</script>", content_type="text/html")
    client.post(
        f"/tickets/{ticket.number}/compose/",
        {"mode": "reply", "body": "see file", "attachments": upload},
    )
    attachment = Message.objects.get(ticket=ticket, direction="outbound").attachments.get()
    url = f"/tickets/{ticket.number}/attachments/{attachment.pk}/"
    assert url in page(client, ticket)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    other = new_ticket(team=support_team)
    assert client.get(f"/tickets/{other.number}/attachments/{attachment.pk}/").status_code == 404
    client.force_login(other_agent)
    assert client.get(url).status_code == 404


def test_assignee_options_escape_names_and_select_the_assignee(
    client, agent, support_team, make_user
):
    """The assignee menu is built in Python: staff names are escaped, the assignee chosen."""
    odd = make_user(first_name='<img src=x onerror="alert(1)">', last_name="& Co")
    ticket = new_ticket(team=support_team)
    ticket_assign(ticket=ticket, actor=agent, assignee=odd)
    client.force_login(agent)
    html = page(client, ticket)
    assert "<img src=x" not in html
    expected_name = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; Co"
    assert f'<option value="{odd.pk}" selected>{expected_name}</option>' in html


def test_health_score_shown_in_whole_points_rounded_down(
    client, agent, support_team, contact, account
):
    """69.6 is yellow (green starts at 70): the page says 69, not a rounded-up 70."""
    ticket = new_ticket(team=support_team, email=contact.email)
    AccountMetrics.objects.create(account=account, health_band="yellow", health_score=69.6)
    client.force_login(agent)
    html = page(client, ticket)
    assert 'title="Health score 69"' in html
    assert "Health score 70" not in html
