"""Tickets, messages and notes through the API: who reads, who writes, who gets 404."""

from __future__ import annotations

import pytest

from helpdesk.models import Role
from inbox.models import Message, Status, Ticket, TicketEvent
from inbox.services import ticket_assign, ticket_set_status
from notes.models import Note
from tests.accounts.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(agent, other_agent, success_manager, admin_user, make_user):
    """Every role, plus a success manager with another book."""
    return {
        "agent": agent,
        "other_agent": other_agent,
        "success_manager": success_manager,
        "other_manager": make_user(Role.SUCCESS, username="otto"),
        "admin": admin_user,
    }


# (role, can see a support-team ticket of Acme, the success manager's account)
READERS = [
    ("agent", True),
    ("other_agent", False),
    ("success_manager", True),
    ("other_manager", False),
    ("admin", True),
]


@pytest.mark.parametrize(("role", "can_see"), READERS)
def test_ticket_detail_per_role(api_for, people, make_ticket, role, can_see):
    ticket = make_ticket(subject="Secret printer fire")
    response = api_for(people[role]).get(f"/api/v1/tickets/{ticket.number}/")
    if can_see:
        assert response.status_code == 200
        assert response.json()["subject"] == "Secret printer fire"
        assert response.json()["requester"]["email"] == "carol@acme.example"
    else:
        # 404, like a ticket that does not exist: nothing about it in the body.
        assert response.status_code == 404
        assert "Secret" not in response.content.decode()
        assert "carol" not in response.content.decode()
        missing = api_for(people[role]).get("/api/v1/tickets/999999/")
        assert missing.status_code == 404
        assert missing.json() == response.json()


@pytest.mark.parametrize(("role", "can_see"), READERS)
def test_ticket_list_shows_only_visible_tickets(api_for, people, make_ticket, role, can_see):
    make_ticket(subject="Visible to the support team")
    body = api_for(people[role]).get("/api/v1/tickets/").json()
    subjects = [row["subject"] for row in body["results"]]
    assert subjects == (["Visible to the support team"] if can_see else [])
    assert set(body) == {"next", "previous", "results"}  # no counts leaked


@pytest.mark.parametrize("path", ["/api/v1/tickets/{n}/messages/", "/api/v1/tickets/{n}/notes/"])
@pytest.mark.parametrize(("role", "can_see"), READERS)
def test_thread_per_role(api_for, people, make_ticket, role, can_see, path):
    ticket = make_ticket(body="The first message")
    response = api_for(people[role]).get(path.format(n=ticket.number))
    assert response.status_code == (200 if can_see else 404)


@pytest.mark.parametrize(("role", "can_see"), READERS)
def test_write_per_role(api_for, people, make_ticket, role, can_see):
    ticket = make_ticket()
    client = api_for(people[role])
    reply = client.post(
        f"/api/v1/tickets/{ticket.number}/messages/", {"body": "On it"}, format="json"
    )
    note = client.post(f"/api/v1/tickets/{ticket.number}/notes/", {"body": "FYI"}, format="json")
    patch = client.patch(f"/api/v1/tickets/{ticket.number}/", {"priority": "high"}, format="json")
    if can_see:
        assert (reply.status_code, note.status_code, patch.status_code) == (201, 201, 200)
        ticket.refresh_from_db()
        assert ticket.priority == "high"
    else:
        assert (reply.status_code, note.status_code, patch.status_code) == (404, 404, 404)
        assert not Message.objects.filter(ticket=ticket, direction="outbound").exists()
        assert not Note.objects.filter(ticket=ticket).exists()
        ticket.refresh_from_db()
        assert ticket.priority == "normal"


def test_anonymous_and_bad_tokens_get_401(api_for, make_ticket, client):
    ticket = make_ticket()
    anonymous = api_for(None)
    for path in ["/api/v1/tickets/", f"/api/v1/tickets/{ticket.number}/", "/api/v1/users/me/"]:
        response = anonymous.get(path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anonymous.get("/api/v1/tickets/").status_code == 401


def test_create_ticket_from_api(api_for, agent, support_team, account):
    response = api_for(agent).post(
        "/api/v1/tickets/",
        {
            "subject": "Cannot log in",
            "body": "Since this morning.",
            "requester_email": "Zed@Acme.example",
            "requester_name": "Zed",
            "team": support_team.pk,
            "priority": "high",
            "tags": ["Login", "urgent-ish"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    ticket = Ticket.objects.get(number=body["number"])
    assert (ticket.channel, ticket.priority, ticket.team) == ("api", "high", support_team)
    assert ticket.account == account  # matched by the requester's domain
    assert body["tags"] == ["login", "urgent-ish"]
    first = ticket.messages.get()
    assert (first.direction, first.body_text) == ("inbound", "Since this morning.")
    assert first.author_contact.email == "Zed@Acme.example"
    assert TicketEvent.objects.filter(ticket=ticket, kind="created", actor=agent).exists()


def test_create_ticket_bad_input_is_400_with_field_errors(api_for, agent):
    response = api_for(agent).post(
        "/api/v1/tickets/",
        {"subject": "", "requester_email": "nope", "priority": "whenever", "number": 7},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"number"}  # unknown fields are refused first
    response = api_for(agent).post(
        "/api/v1/tickets/", {"subject": "", "requester_email": "nope"}, format="json"
    )
    assert set(response.json()) == {"subject", "body", "requester_email"}
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    "extra",
    [
        {"account": "other"},
        {"requester": "other"},
        {"number": 5},
        {"subject": "renamed"},
        {"is_internal": True},
        {"owner": "other"},
    ],
)
def test_patch_with_extra_fields_is_400_and_applies_nothing(api_for, agent, make_ticket, extra):
    ticket = make_ticket()
    other = AccountFactory(name="Other")
    number = ticket.number
    payload = {
        "priority": "urgent",
        **{k: (other.pk if v == "other" else v) for k, v in extra.items()},
    }
    response = api_for(agent).patch(f"/api/v1/tickets/{ticket.number}/", payload, format="json")
    assert response.status_code == 400
    assert list(response.json()) == list(extra)
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.account.name, ticket.number) == ("normal", "Acme", number)
    assert ticket.subject == "Printer on fire"


def test_patch_applies_through_services(api_for, agent, other_agent, make_ticket):
    ticket = make_ticket()
    billing = other_agent.teams.get()
    response = api_for(agent).patch(
        f"/api/v1/tickets/{ticket.number}/",
        {"status": "pending", "assignee": agent.pk, "tags": ["vip"], "priority": "low"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["assignee"]["username"], body["tags"]) == (
        "pending",
        "alice",
        ["vip"],
    )
    kinds = set(TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True))
    assert {"status", "assigned", "tags", "priority"} <= kinds
    # Moving the ticket to another team: still visible to the agent, who is the assignee.
    response = api_for(agent).patch(
        f"/api/v1/tickets/{ticket.number}/", {"team": billing.pk}, format="json"
    )
    assert response.json()["team"]["handle"] == "billing"


def test_patch_bad_values_are_400(api_for, agent, make_ticket):
    ticket = make_ticket()
    response = api_for(agent).patch(
        f"/api/v1/tickets/{ticket.number}/",
        {"status": "exploded", "assignee": 987654, "tags": "not-a-list"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"status", "assignee", "tags"}


def test_closed_ticket_answers_409(api_for, agent, make_ticket):
    ticket = make_ticket()
    ticket_set_status(ticket=ticket, actor=agent, status=Status.CLOSED)
    client = api_for(agent)
    reply = client.post(f"/api/v1/tickets/{ticket.number}/messages/", {"body": "x"}, format="json")
    assert reply.status_code == 409
    assert "closed" in reply.json()["detail"]
    patch = client.patch(f"/api/v1/tickets/{ticket.number}/", {"status": "open"}, format="json")
    assert patch.status_code == 409


def test_take_a_ticket_someone_holds_is_409_naming_them(api_for, agent, make_user, make_ticket):
    ticket = make_ticket()
    colleague = make_user(Role.AGENT, username="bob", first_name="Bob", last_name="B")
    ticket_assign(ticket=ticket, actor=colleague, assignee=colleague)
    response = api_for(agent).post(f"/api/v1/tickets/{ticket.number}/take/")
    assert response.status_code == 409
    assert response.json()["assignee"] == {"id": colleague.pk, "username": "bob"}
    ticket.refresh_from_db()
    assert ticket.assignee == colleague


def test_take_unassigned_ticket(api_for, agent, make_ticket):
    ticket = make_ticket()
    response = api_for(agent).post(f"/api/v1/tickets/{ticket.number}/take/")
    assert response.status_code == 200
    assert response.json()["assignee"]["username"] == "alice"


def test_reply_requires_an_explicit_body_and_has_no_visibility_switch(api_for, agent, make_ticket):
    ticket = make_ticket()
    client = api_for(agent)
    url = f"/api/v1/tickets/{ticket.number}/messages/"
    assert client.post(url, {}, format="json").json() == {"body": ["This field is required."]}
    internal = client.post(url, {"body": "secret", "internal": True}, format="json")
    assert internal.status_code == 400
    assert "internal" in internal.json()
    assert not Message.objects.filter(direction="outbound").exists()
    reply = client.post(url, {"body": "Fixed now", "status": "solved"}, format="json")
    assert reply.status_code == 201
    ticket.refresh_from_db()
    assert ticket.status == "solved"
    assert ticket.first_response_at is not None
    outbound = Message.objects.get(direction="outbound")
    assert outbound.body_text == "Fixed now"
    assert outbound.outbound.to == ["carol@acme.example"]  # e-mailed through the outbox


def test_notes_are_internal_and_not_in_messages(api_for, agent, make_ticket):
    ticket = make_ticket()
    client = api_for(agent)
    note = client.post(
        f"/api/v1/tickets/{ticket.number}/notes/",
        {"body": "Customer is **angry** <script>x()</script>"},
        format="json",
    )
    assert note.status_code == 201
    assert "<strong>angry</strong>" in note.json()["body_html"]
    assert "<script>" not in note.json()["body_html"]
    messages = client.get(f"/api/v1/tickets/{ticket.number}/messages/").json()["results"]
    assert all("angry" not in m["body_text"] for m in messages)
    notes = client.get(f"/api/v1/tickets/{ticket.number}/notes/").json()["results"]
    assert [n["body_markdown"] for n in notes] == ["Customer is **angry** <script>x()</script>"]
    empty = client.post(f"/api/v1/tickets/{ticket.number}/notes/", {"body": "  "}, format="json")
    assert empty.status_code == 400
    assert "body" in empty.json()


def test_list_filters_and_search(api_for, agent, make_ticket, support_team):
    make_ticket(subject="Invoice is wrong", body="The invoice total doubled")
    make_ticket(subject="Printer jam", body="paper everywhere", priority="urgent")
    client = api_for(agent)

    def subjects(query: str) -> list[str]:
        response = client.get(f"/api/v1/tickets/?{query}")
        assert response.status_code == 200, response.json()
        return sorted(row["subject"] for row in response.json()["results"])

    assert subjects("priority=urgent") == ["Printer jam"]
    assert subjects("q=invoices") == ["Invoice is wrong"]  # english stemming, body text
    assert subjects("q=paper") == ["Printer jam"]
    assert subjects(f"team={support_team.pk}&status=new") == ["Invoice is wrong", "Printer jam"]
    assert subjects("status=solved") == []
    unknown = client.get("/api/v1/tickets/?sort=subject&owner=1")
    assert unknown.status_code == 400
    assert set(unknown.json()) == {"owner", "sort"}
    assert client.get("/api/v1/tickets/?status=exploded").status_code == 400


def test_cursor_pagination_walks_every_ticket_once(api_for, agent, make_ticket):
    numbers = {make_ticket(subject=f"T{i}").number for i in range(7)}
    client = api_for(agent)
    seen: list[int] = []
    url = "/api/v1/tickets/?page_size=3"
    while url:
        body = client.get(url).json()
        seen += [row["number"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(numbers)
    assert seen == sorted(numbers, reverse=True)  # newest first


def test_success_manager_sees_only_their_book(api_for, success_manager, make_ticket, people):
    other_account = AccountFactory(name="Globex", success_manager=people["other_manager"])
    other_contact = ContactFactory(email="gina@globex.example", account=other_account)
    mine = make_ticket(subject="Acme ticket")
    theirs = make_ticket(subject="Globex ticket", requester=other_contact)
    client = api_for(success_manager)
    assert [r["number"] for r in client.get("/api/v1/tickets/").json()["results"]] == [mine.number]
    assert client.get(f"/api/v1/tickets/{theirs.number}/").status_code == 404
    assert client.get(f"/api/v1/tickets/?account={other_account.pk}").json()["results"] == []


# --- query counts ------------------------------------------------------------------------


def _count_queries(client, url, django_assert_num_queries, expected):
    client.get(url)  # warm-up: the token's last_used_at write happens at most once a minute
    with django_assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200
    return response


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/tickets/?page_size=200", 3),  # token, tickets, tags
        ("/api/v1/tickets/{n}/messages/?page_size=200", 3),  # token, ticket, messages
        ("/api/v1/tickets/{n}/notes/?page_size=200", 3),  # token, ticket, notes
    ],
)
def test_ticket_lists_cost_a_fixed_number_of_queries(
    api_for, agent, make_ticket, django_assert_num_queries, path, expected
):
    from inbox.services import reply_create
    from notes.services import note_create

    client = api_for(agent)
    first = make_ticket()
    url = path.format(n=first.number)

    def grow(to: int) -> None:
        while Ticket.objects.count() < to:
            make_ticket(tags=["a", "b"])
        while Message.objects.filter(ticket=first).count() < to:
            reply_create(ticket=first, author=agent, body_text="reply")
        while Note.objects.filter(ticket=first).count() < to:
            note_create(ticket=first, author=agent, body_markdown="note")

    grow(5)
    small = _count_queries(client, url, django_assert_num_queries, expected)
    assert len(small.json()["results"]) == 5
    grow(50)
    large = _count_queries(client, url, django_assert_num_queries, expected)
    assert len(large.json()["results"]) == 50


def test_bad_paging_and_paths_answer_json_errors(api_for, agent, make_ticket):
    make_ticket()
    client = api_for(agent)
    for query in ("page_size=0", "page_size=201", "page_size=ten", "status=", "unassigned=maybe"):
        response = client.get(f"/api/v1/tickets/?{query}")
        assert response.status_code == 400, query
        assert query.split("=")[0] in response.json()
    assert client.get("/api/v1/tickets/?q=").status_code == 200  # a cleared search box
    assert client.get("/api/v1/tickets/?cursor=garbage").status_code == 404
    missing = client.get("/api/v1/no-such-thing/\n")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found."}


def test_ticket_list_reads_only_the_columns_it_shows(api_for, agent, make_ticket):
    """The list selects what the serializer shows: no search vector (kilobytes a row), no
    password hash of the assignee, no other column of five tables (a third of the page's
    time at 1 M). Every field still arrives, without a query per row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ticket = make_ticket(tags=["vip"])
    Ticket.objects.filter(pk=ticket.pk).update(assignee=agent)
    client = api_for(agent)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/tickets/")
    listing = next(
        q["sql"] for q in queries.captured_queries if '"inbox_ticket"."subject"' in q["sql"]
    )
    for column in ("search_vector", "password", "body_text", "mrr", "is_unparsed"):
        assert column not in listing, column
    row = response.json()["results"][0]
    assert row["assignee"]["username"] == agent.username
    assert row["tags"] == ["vip"]
    assert row["requester"]["email"] == ticket.requester.email
    assert set(row) >= {"is_sla_breached", "created_at", "snoozed_until", "account", "team"}
