"""Issue 7 acceptance points the other API test modules left undemonstrated.

Per role (admin, agent, success manager, and someone who may not see the object):
account detail and metrics, contacts, ticket create, handoff accept/decline/return;
webhooks for message.created, handoff.* and account.health_changed against a real receiver;
ticket list filters with flat query counts; schemathesis on the handoff operations with
real ids; Idempotency-Key on every POST; throttling state in Redis; token revoke in admin.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest
from django.utils import timezone

from accounts.models import AccountMetrics, Contact
from api.models import ApiToken, IdempotencyKey, Webhook, WebhookDelivery
from api.webhooks import webhook_signature_verify
from helpdesk.models import Role
from inbox.models import Ticket, TicketAccess
from inbox.services import InboundContent, message_add_inbound, ticket_assign
from notes.models import Handoff, HandoffStatus, Note
from notes.notify import notify
from notes.services import handoff_accept, handoff_create
from tests.accounts.factories import AccountFactory, ContactFactory
from tests.api import test_webhooks
from tests.helpdesk.factories import MembershipFactory
from tests.inbox.inbox_helpers import plan_without_sorting

pytestmark = pytest.mark.django_db

SECRET = test_webhooks.SECRET
receiver = test_webhooks.receiver  # the real HTTP receiver on loopback, as a fixture here too


@pytest.fixture
def other_manager(make_user):
    """A success manager with another book: Acme is not theirs."""
    return make_user(Role.SUCCESS, username="otto")


@pytest.fixture
def globex(other_manager):
    account = AccountFactory(name="Globex", success_manager=other_manager)
    ContactFactory(email="gina@globex.example", name="Gina", account=account)
    return account


@pytest.fixture
def people(agent, other_agent, success_manager, other_manager, admin_user):
    return {
        "admin": admin_user,
        "agent": agent,
        "success_manager": success_manager,
        "other_agent": other_agent,  # another team: support's tickets are hidden
        "other_manager": other_manager,  # another book: Acme is hidden
    }


def _assert_not_found_like_missing(client, hidden_url: str, missing_url: str, *secrets: str):
    """404, with the very body a missing object gets, and nothing of the hidden one."""
    hidden = client.get(hidden_url)
    missing = client.get(missing_url)
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json() == missing.json()
    for secret in secrets:
        assert secret not in hidden.content.decode()


# --- accounts: detail and metrics per role -------------------------------------------------

# Agents read every account (they answer every customer); a success manager their book.
ACCOUNT_READERS = [
    ("admin", True),
    ("agent", True),
    ("other_agent", True),
    ("success_manager", True),
    ("other_manager", False),
]


@pytest.mark.parametrize(("role", "can_see"), ACCOUNT_READERS)
def test_account_detail_per_role(api_for, people, account, globex, role, can_see):
    client = api_for(people[role])
    url = f"/api/v1/accounts/{account.pk}/"
    if can_see:
        body = client.get(url).json()
        assert (body["name"], body["success_manager"]["username"]) == ("Acme", "sam")
        assert body["domains"] == ["acme.example"]
    else:
        _assert_not_found_like_missing(client, url, "/api/v1/accounts/99999999/", "Acme", "acme")
        # The account they do own is there, so the 404 is about scope, not a broken route.
        assert client.get(f"/api/v1/accounts/{globex.pk}/").json()["name"] == "Globex"


@pytest.mark.parametrize(("role", "can_see"), ACCOUNT_READERS)
def test_account_metrics_per_role(api_for, people, account, role, can_see):
    AccountMetrics.objects.create(
        account=account,
        health_score=31.0,
        health_band="red",
        health_components={"backlog": {"value": 0, "weight": 1}},
        backlog=11,
        computed_at=timezone.now(),
    )
    client = api_for(people[role])
    url = f"/api/v1/accounts/{account.pk}/metrics/"
    if can_see:
        body = client.get(url).json()
        assert (body["health_score"], body["health_band"], body["backlog"]) == (31.0, "red", 11)
        assert body["health_components"] == {"backlog": {"value": 0, "weight": 1}}
    else:
        _assert_not_found_like_missing(
            client, url, "/api/v1/accounts/99999999/metrics/", "31", "red", "backlog"
        )


# --- contacts per role ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", ["carol@acme.example", "gina@globex.example"]),
        ("agent", ["carol@acme.example", "gina@globex.example"]),
        ("success_manager", ["carol@acme.example"]),
        ("other_manager", ["gina@globex.example"]),
    ],
)
def test_contact_list_per_role(api_for, people, contact, globex, role, expected):
    client = api_for(people[role])
    rows = client.get("/api/v1/contacts/").json()["results"]
    assert sorted(row["email"] for row in rows) == expected
    # Filtering by a hidden contact's e-mail or account finds nothing rather than an error.
    hidden = {"carol@acme.example", "gina@globex.example"} - set(expected)
    for email in hidden:
        assert client.get(f"/api/v1/contacts/?email={email}").json()["results"] == []
        assert client.get(f"/api/v1/contacts/?q={email}").json()["results"] == []


@pytest.mark.parametrize(
    ("role", "account_name", "status"),
    [
        ("admin", "Globex", 201),  # admins write every book
        ("success_manager", "Acme", 201),
        ("success_manager", "Globex", 400),  # not their book: the account is not a choice
        ("other_manager", "Acme", 400),
        ("agent", "Acme", 403),  # agents read customers, they do not create them
        ("other_agent", "Acme", 403),
    ],
)
def test_contact_create_per_role(api_for, people, account, globex, role, account_name, status):
    target = {"Acme": account, "Globex": globex}[account_name]
    response = api_for(people[role]).post(
        "/api/v1/contacts/",
        {"email": "new.person@example.org", "name": "New", "account": target.pk},
        format="json",
    )
    assert response.status_code == status, response.content
    created = Contact.objects.filter(email="new.person@example.org")
    if status == 201:
        assert response.json()["account"] == {"id": target.pk, "name": account_name}
        assert created.get().account == target
    else:
        assert not created.exists()
        if status == 400:
            assert set(response.json()) == {"account"}
            assert account_name not in response.content.decode()


# --- ticket create per role ------------------------------------------------------------------


@pytest.mark.parametrize("with_team", [True, False])
@pytest.mark.parametrize(
    ("role", "in_scope"),
    [
        ("admin", True),
        ("agent", True),  # a support agent opening a support ticket
        ("success_manager", True),  # Acme is in sam's book
        ("other_agent", False),  # a billing agent logging a call for support
        ("other_manager", False),  # another book
    ],
)
def test_ticket_create_per_role_and_the_creator_can_read_it(
    api_for, people, support_team, account, role, in_scope, with_team
):
    """Anyone on staff may open a ticket for a customer (a phone call, a chat) and then read
    what they created, also when it lands outside their usual scope (granted, audited)."""
    user = people[role]
    client = api_for(user)
    payload = {
        "subject": f"Opened by {role}",
        "body": "Customer called about the invoice.",
        "requester_email": "caller@acme.example",
    }
    if with_team:
        payload["team"] = support_team.pk
    response = client.post("/api/v1/tickets/", payload, format="json")
    assert response.status_code == 201, response.content
    number = response.json()["number"]
    ticket = Ticket.objects.get(number=number)
    expected_team = support_team if with_team else None
    assert (ticket.channel, ticket.team, ticket.account) == ("api", expected_team, account)
    assert ticket.messages.get().body_text == "Customer called about the invoice."
    assert ticket.events.filter(kind="created", actor=user).exists()
    detail = client.get(f"/api/v1/tickets/{number}/")
    assert detail.status_code == 200
    assert detail.json() == response.json()
    assert number in [row["number"] for row in client.get("/api/v1/tickets/").json()["results"]]
    assert client.get(f"/api/v1/tickets/{number}/messages/").status_code == 200
    # Only those who could not see it otherwise get a grant, and the grant is in the audit.
    visible_anyway = in_scope and (with_team or role != "agent")
    grants = TicketAccess.objects.filter(ticket=ticket, user=user)
    assert grants.exists() == (not visible_anyway)
    if grants.exists():
        assert grants.get().reason == "granted"
        assert ticket.events.filter(kind="access_granted", actor=user).exists()


def test_ticket_created_by_one_agent_stays_hidden_from_other_teams(
    api_for, agent, other_agent, other_manager, support_team, account
):
    created = api_for(agent).post(
        "/api/v1/tickets/",
        {
            "subject": "Private matter",
            "body": "b",
            "requester_email": "carol@acme.example",
            "team": support_team.pk,
        },
        format="json",
    )
    number = created.json()["number"]
    for outsider in (other_agent, other_manager):
        _assert_not_found_like_missing(
            api_for(outsider), f"/api/v1/tickets/{number}/", "/api/v1/tickets/999999/", "Private"
        )


def test_ticket_create_input_errors_are_field_errors_for_every_role(api_for, people):
    for user in people.values():
        response = api_for(user).post(
            "/api/v1/tickets/",
            {"subject": "x", "body": "y", "requester_email": "x@acme.example", "team": 999999},
            format="json",
        )
        assert response.status_code == 400
        assert set(response.json()) == {"team"}
    assert not Ticket.objects.exists()


# --- handoff answers per role ----------------------------------------------------------------


def _escalate(ticket, agent, to_user=None):
    return handoff_create(
        ticket=ticket,
        from_user=agent,
        to_user=to_user,
        reason="churn_risk",
        note_markdown="They mentioned a competitor.",
    )


# role -> expected answer to accept/decline a pending escalation from alice to sam:
# the receiver and admins may answer; the sender sees the ticket but may not (403);
# people who cannot see the ticket get 404.
ANSWERERS = [
    ("success_manager", 200),
    ("admin", 200),
    ("agent", 403),
    ("other_agent", 404),
    ("other_manager", 404),
]


@pytest.mark.parametrize(("role", "expected"), ANSWERERS)
def test_handoff_accept_per_role(
    api_for, people, agent, success_manager, make_ticket, role, expected
):
    ticket = make_ticket()
    handoff = _escalate(ticket, agent, success_manager)
    response = api_for(people[role]).post(f"/api/v1/handoffs/{handoff.pk}/accept/")
    assert response.status_code == expected, response.content
    handoff.refresh_from_db()
    ticket.refresh_from_db()
    if expected == 200:
        assert response.json()["status"] == "accepted"
        assert response.json()["responded_by"]["username"] == people[role].username
        assert (handoff.status, ticket.assignee) == ("accepted", people[role])
    else:
        assert (handoff.status, ticket.assignee) == ("pending", None)
        if expected == 404:
            missing = api_for(people[role]).post("/api/v1/handoffs/99999999/accept/")
            assert response.json() == missing.json()
            assert "competitor" not in response.content.decode()


@pytest.mark.parametrize(("role", "expected"), ANSWERERS)
def test_handoff_decline_per_role(
    api_for, people, agent, success_manager, make_ticket, role, expected
):
    ticket = make_ticket()
    handoff = _escalate(ticket, agent, success_manager)
    response = api_for(people[role]).post(
        f"/api/v1/handoffs/{handoff.pk}/decline/", {"reason": "Not my book"}, format="json"
    )
    assert response.status_code == expected, response.content
    handoff.refresh_from_db()
    if expected == 200:
        assert (response.json()["status"], response.json()["response_text"]) == (
            "declined",
            "Not my book",
        )
        assert handoff.status == "declined"
    else:
        assert (handoff.status, handoff.response_text) == ("pending", "")


# Returning needs an accepted escalation: the one who accepted it (sam) or an admin may.
RETURNERS = [
    ("success_manager", 200),
    ("admin", 200),
    ("agent", 403),
    ("other_agent", 404),
    ("other_manager", 404),
]


@pytest.mark.parametrize(("role", "expected"), RETURNERS)
def test_handoff_return_per_role(
    api_for, people, agent, success_manager, make_ticket, role, expected
):
    ticket = make_ticket()
    handoff = handoff_accept(
        handoff=_escalate(ticket, agent, success_manager), user=success_manager
    )
    response = api_for(people[role]).post(
        f"/api/v1/handoffs/{handoff.pk}/return/", {"note": "Renewal saved."}, format="json"
    )
    assert response.status_code == expected, response.content
    handoff.refresh_from_db()
    ticket.refresh_from_db()
    if expected == 200:
        assert response.json()["status"] == "completed"
        assert (handoff.status, ticket.assignee) == ("completed", agent)  # back to support
        assert Note.objects.filter(ticket=ticket, body_markdown="Renewal saved.").exists()
    else:
        assert (handoff.status, ticket.assignee) == ("accepted", success_manager)
        assert not Note.objects.filter(body_markdown="Renewal saved.").exists()


def test_handoff_to_a_team_is_answered_by_its_members(
    api_for, agent, success_team, make_user, make_ticket
):
    """A success colleague outside the account's book sees and answers a team handoff."""
    colleague = make_user(Role.SUCCESS, username="cleo")
    MembershipFactory(team=success_team, user=colleague)
    ticket = make_ticket()
    created = api_for(agent).post(
        f"/api/v1/tickets/{ticket.number}/handoffs/",
        {
            "to_team": success_team.pk,
            "kind": "escalate_to_success",
            "reason": "expansion",
            "note": "Wants 50 more seats.",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    client = api_for(colleague)
    assert client.get(f"/api/v1/tickets/{ticket.number}/").status_code == 200  # access granted
    accepted = client.post(f"/api/v1/handoffs/{created.json()['id']}/accept/")
    assert accepted.status_code == 200
    ticket.refresh_from_db()
    assert ticket.assignee == colleague


def test_answering_an_answered_handoff_is_409_for_every_answer(
    api_for, agent, success_manager, make_ticket
):
    ticket = make_ticket()
    handoff = _escalate(ticket, agent, success_manager)
    manager = api_for(success_manager)
    early = manager.post(f"/api/v1/handoffs/{handoff.pk}/return/", {"note": "x"}, format="json")
    assert early.status_code == 409
    assert manager.post(f"/api/v1/handoffs/{handoff.pk}/accept/").status_code == 200
    late_decline = manager.post(
        f"/api/v1/handoffs/{handoff.pk}/decline/", {"reason": "too late"}, format="json"
    )
    assert late_decline.status_code == 409
    assert late_decline.json()["code"] == "handoff_refused"
    assert (
        manager.post(
            f"/api/v1/handoffs/{handoff.pk}/return/", {"note": "Done"}, format="json"
        ).status_code
        == 200
    )
    again = manager.post(f"/api/v1/handoffs/{handoff.pk}/return/", {"note": "Again"}, format="json")
    assert again.status_code == 409
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.COMPLETED
    assert Note.objects.filter(body_markdown="Again").count() == 0


# --- webhooks: message.created, handoff.*, account.health_changed ------------------------------


def _verified(request: dict) -> dict:
    """Check the request as a receiver would (signature over timestamp and raw body)."""
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert webhook_signature_verify(
        secret=SECRET,
        timestamp=headers["X-Tandem-Timestamp"],
        body=request["body"],
        signature=headers["X-Tandem-Signature"],
    )
    tampered = request["body"].replace(b'"data"', b'"dat4"')
    assert not webhook_signature_verify(
        secret=SECRET,
        timestamp=headers["X-Tandem-Timestamp"],
        body=tampered,
        signature=headers["X-Tandem-Signature"],
    )
    body = json.loads(request["body"])
    assert body["event"] == headers["X-Tandem-Event"]
    assert body["id"] == headers["X-Tandem-Delivery"]
    return body


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_message_and_handoff_events_are_delivered_signed_by_the_worker(
    request, monkeypatch, receiver, api_for, agent, success_manager, contact, make_ticket
):
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_SECONDS", "0.3")
    request.getfixturevalue("celery_worker")
    kinds = [
        "message.created",
        "handoff.created",
        "handoff.accepted",
        "handoff.declined",
        "handoff.returned",
    ]
    Webhook.objects.create(
        name="CRM", url=receiver.url, secret=SECRET, event_kinds=kinds, allow_private_targets=True
    )
    ticket = make_ticket()  # ticket.created is not subscribed
    support, manager = api_for(agent), api_for(success_manager)
    url = f"/api/v1/tickets/{ticket.number}/"
    reply = support.post(f"{url}messages/", {"body": "On it"}, format="json")
    assert reply.status_code == 201
    inbound = message_add_inbound(
        ticket=ticket, contact=contact, content=InboundContent(body_text="Still broken")
    )
    escalation = {"to_user": success_manager.pk, "kind": "escalate_to_success", "note": "See"}
    first = support.post(f"{url}handoffs/", {**escalation, "reason": "churn_risk"}, format="json")
    first_id = first.json()["id"]
    assert manager.post(f"/api/v1/handoffs/{first_id}/accept/").status_code == 200
    returned = manager.post(
        f"/api/v1/handoffs/{first_id}/return/", {"note": "Saved"}, format="json"
    )
    assert returned.status_code == 200
    second = support.post(f"{url}handoffs/", {**escalation, "reason": "expansion"}, format="json")
    second_id = second.json()["id"]
    declined = manager.post(
        f"/api/v1/handoffs/{second_id}/decline/", {"reason": "No budget"}, format="json"
    )
    assert declined.status_code == 200

    requests = receiver.wait_for(7)
    time.sleep(1.5)  # anything else (note.created, ticket.*) would arrive by now
    bodies = [_verified(r) for r in receiver.requests]
    assert sorted(b["event"] for b in bodies) == sorted(
        ["message.created"] * 2 + ["handoff.created"] * 2 + kinds[2:]
    )
    assert len(requests) == 7
    messages = {
        b["data"]["message"]["direction"]: b["data"] for b in bodies if "message" in b["data"]
    }
    assert messages["outbound"]["message"]["body_text"] == "On it"
    assert messages["outbound"]["message"]["author_user_id"] == agent.pk
    assert messages["outbound"]["message"]["id"] == reply.json()["id"]
    assert messages["inbound"]["message"]["id"] == inbound.pk
    assert messages["inbound"]["message"]["author_contact_id"] == contact.pk
    assert {m["ticket"]["number"] for m in messages.values()} == {ticket.number}
    steps = sorted(
        (b["data"]["handoff"]["id"], b["event"], b["data"]["handoff"]["status"])
        for b in bodies
        if "handoff" in b["data"]
    )
    assert steps == sorted(
        [
            (first_id, "handoff.created", "pending"),
            (first_id, "handoff.accepted", "accepted"),
            (first_id, "handoff.returned", "completed"),
            (second_id, "handoff.created", "pending"),
            (second_id, "handoff.declined", "declined"),
        ]
    )
    accepted = next(b for b in bodies if b["event"] == "handoff.accepted")["data"]["handoff"]
    assert (accepted["from_user_id"], accepted["responded_by_id"]) == (agent.pk, success_manager.pk)
    deliveries = WebhookDelivery.objects.all()
    assert sorted(d.status for d in deliveries) == ["delivered"] * 7
    assert not WebhookDelivery.objects.filter(event__in=["note.created", "ticket.created"]).exists()


def test_account_health_change_is_delivered_signed(receiver, agent, make_ticket):
    from accounts.metrics import recompute_accounts
    from api.tasks import deliver_webhook_task

    Webhook.objects.create(
        name="CRM",
        url=receiver.url,
        secret=SECRET,
        event_kinds=["account.health_changed"],
        allow_private_targets=True,
    )
    ticket = make_ticket()
    handoff_create(
        ticket=ticket, from_user=agent, reason="churn_risk", note_markdown="Leaving us."
    )  # backlog 1 (90 points, weight 1) and a churn-risk escalation (0 points, weight 2): red
    recompute_accounts(account_ids=[ticket.account_id])
    assert AccountMetrics.objects.get(account=ticket.account).health_band == "red"
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "account.health_changed"
    deliver_webhook_task(delivery.pk)  # in-process: the on-commit enqueue never runs here
    [request] = receiver.requests
    body = _verified(request)
    assert body["data"]["account"] == {"id": ticket.account_id, "name": "Acme"}
    assert body["data"]["health"]["to"]["band"] == "red"
    assert body["data"]["health"]["to"]["score"] == pytest.approx(30.0)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code) == ("delivered", 200)
    recompute_accounts(account_ids=[ticket.account_id])  # no change: no second event
    assert WebhookDelivery.objects.count() == 1


# --- ticket list filters, with flat query counts -----------------------------------------------


@pytest.fixture
def filtered_world(agent, make_user, make_ticket, support_team, globex):
    """Tickets differing by assignee, account and tags; returns names -> tickets."""
    bob = make_user(Role.AGENT, username="bob")
    MembershipFactory(team=support_team, user=bob)
    gina = Contact.objects.get(email="gina@globex.example")
    mine = make_ticket(subject="Mine, vip", tags=["VIP", "billing"])
    ticket_assign(ticket=mine, actor=agent, assignee=agent)
    loose = make_ticket(subject="Unassigned, other tag", tags=["other"])
    theirs = make_ticket(subject="Bob's, Globex", requester=gina, tags=["vip"])
    ticket_assign(ticket=theirs, actor=bob, assignee=bob)
    return {"mine": mine, "loose": loose, "theirs": theirs, "bob": bob}


def test_ticket_list_filters_by_assignee_account_and_tag(
    api_for, agent, other_agent, success_manager, account, globex, filtered_world
):
    client = api_for(agent)
    bob = filtered_world["bob"]

    def subjects(query: str, who=client) -> list[str]:
        response = who.get(f"/api/v1/tickets/?{query}")
        assert response.status_code == 200, response.json()
        return sorted(row["subject"] for row in response.json()["results"])

    assert subjects(f"assignee={agent.pk}") == ["Mine, vip"]
    assert subjects(f"assignee={bob.pk}") == ["Bob's, Globex"]
    assert subjects("assignee=99999999") == []
    assert subjects("unassigned=true") == ["Unassigned, other tag"]
    assert subjects("unassigned=false") == ["Bob's, Globex", "Mine, vip"]
    assert subjects(f"account={account.pk}") == ["Mine, vip", "Unassigned, other tag"]
    assert subjects(f"account={globex.pk}") == ["Bob's, Globex"]
    assert subjects("tag=vip") == ["Bob's, Globex", "Mine, vip"]
    assert subjects("tag=VIP") == ["Bob's, Globex", "Mine, vip"]  # tags are case-insensitive
    assert subjects("tag=nope") == []
    assert subjects(f"tag=vip&account={account.pk}") == ["Mine, vip"]
    assert subjects(f"tag=vip&assignee={bob.pk}&status=new") == ["Bob's, Globex"]
    requester = filtered_world["theirs"].requester_id
    assert subjects(f"requester={requester}") == ["Bob's, Globex"]
    # A filtered row still lists all its tags (the filter join does not trim the prefetch).
    row = client.get("/api/v1/tickets/?tag=billing").json()["results"]
    assert [sorted(r["tags"]) for r in row] == [["billing", "vip"]]
    for bad in ("assignee=me", "assignee=0", "account=-1", "tag=" + "x" * 65):
        response = client.get(f"/api/v1/tickets/?{bad}")
        assert response.status_code == 400, bad
        assert bad.split("=")[0] in response.json()
    # Filters never widen what the caller may see.
    assert subjects(f"account={account.pk}", api_for(other_agent)) == []
    assert subjects("tag=vip", api_for(other_agent)) == []
    assert subjects(f"assignee={bob.pk}", api_for(success_manager)) == []  # Globex: not sam's
    assert subjects("tag=vip", api_for(success_manager)) == ["Mine, vip"]


@pytest.mark.parametrize("who", ["agent", "success_manager"])
@pytest.mark.parametrize("query", ["assignee={agent}", "account={account}", "tag=vip"])
def test_filtered_ticket_lists_cost_a_fixed_number_of_queries(
    api_for, request, agent, account, globex, make_ticket, django_assert_num_queries, query, who
):
    client = api_for(request.getfixturevalue(who))
    url = "/api/v1/tickets/?page_size=200&" + query.format(agent=agent.pk, account=account.pk)
    gina = Contact.objects.get(email="gina@globex.example")
    for _ in range(3):  # noise that no filter above matches
        make_ticket(requester=gina, tags=["other"])
    counts = []
    for size in (5, 50):
        while Ticket.objects.filter(account=account).count() < size:
            ticket = make_ticket(tags=["vip", "second"])
            ticket_assign(ticket=ticket, actor=agent, assignee=agent)
        client.get(url)  # warm-up: the token's last_used_at write happens once a minute
        with django_assert_num_queries(3):  # token, tickets (filtered), their tags
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(response.json()["results"]))
    assert counts == [5, 50]


# --- schemathesis on the handoff operations, with real ids ------------------------------------

HANDOFF_OPERATIONS = {
    ("GET", "/api/v1/tickets/{number}/handoffs/"),
    ("POST", "/api/v1/tickets/{number}/handoffs/"),
    ("POST", "/api/v1/handoffs/{id}/accept/"),
    ("POST", "/api/v1/handoffs/{id}/decline/"),
    ("POST", "/api/v1/handoffs/{id}/return/"),
}


def _schema_operations(client) -> set[tuple[str, str]]:
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if method in ("get", "post", "patch", "put", "delete")
    }


def test_no_schemathesis_skip_flag_can_hide_the_handoff_operations(client):
    """The schema tests once skipped handoff paths unless `notes.services.handoff_create`
    existed (`has_handoffs`). Pin what that flag stood for, so it can never go quietly false,
    and make sure every path with an id gets real ids in some schemathesis run."""
    from types import SimpleNamespace

    from notes import services as notes_services
    from tests.api.test_schema import _path_values

    for name in ("handoff_create", "handoff_accept", "handoff_decline", "handoff_return"):
        assert callable(getattr(notes_services, name, None)), name
    operations = _schema_operations(client)
    assert operations >= HANDOFF_OPERATIONS
    stub = SimpleNamespace(number=1, pk=1)
    with_real_ids = set(_path_values(stub, stub, stub)) | {path for _m, path in HANDOFF_OPERATIONS}
    templated = {path for _method, path in operations if "{" in path}
    assert templated <= with_real_ids, templated - with_real_ids


@pytest.fixture
def handoff_ids(agent, success_manager, make_ticket) -> dict[str, int]:
    """A ticket without handoff, two pending escalations and an accepted one."""
    fresh = make_ticket(subject="No handoff yet")
    to_accept = _escalate(make_ticket(subject="Accept me"), agent, success_manager)
    to_decline = _escalate(make_ticket(subject="Decline me"), agent, success_manager)
    accepted = handoff_accept(
        handoff=_escalate(make_ticket(subject="Return me"), agent, success_manager),
        user=success_manager,
    )
    return {
        "number": fresh.number,
        "accept": to_accept.pk,
        "decline": to_decline.pk,
        "return": accepted.pk,
    }


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("role", ["admin_user", "agent", "success_manager", "other_agent"])
def test_schemathesis_on_handoff_operations_with_real_ids(
    request, api_for, handoff_ids, wsgi_app, role, mode
):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi import checks as openapi_checks

    user = request.getfixturevalue(role)
    headers = {"Authorization": f"Token {api_for(user).raw_token}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    generation = GenerationMode.NEGATIVE if mode == "negative" else GenerationMode.POSITIVE
    excluded = [
        openapi_checks.negative_data_rejection  # DRF coerces some off-type values
        if mode == "negative"
        else openapi_checks.positive_data_acceptance  # business rules refuse valid data
    ]
    fixed = {
        "/api/v1/tickets/{number}/handoffs/": {"number": handoff_ids["number"]},
        "/api/v1/handoffs/{id}/accept/": {"id": handoff_ids["accept"]},
        "/api/v1/handoffs/{id}/decline/": {"id": handoff_ids["decline"]},
        "/api/v1/handoffs/{id}/return/": {"id": handoff_ids["return"]},
    }
    run_operations = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key not in HANDOFF_OPERATIONS:
            continue
        strategy = st.one_of(
            operation.as_strategy(generation_mode=generation),
            operation.as_strategy(
                generation_mode=generation, path_parameters=fixed[operation.path]
            ),
        )

        @given(case=strategy)
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=excluded)

        try:
            run()
        except Unsatisfiable:
            assert mode == "negative"  # e.g. accept: no body or query to make invalid
        run_operations.add(key)
    assert run_operations == HANDOFF_OPERATIONS  # nothing skipped
    statuses = dict(
        Handoff.objects.filter(
            pk__in=[handoff_ids[k] for k in ("accept", "decline", "return")]
        ).values_list("pk", "status")
    )
    if role == "other_agent" or role == "agent":
        # Fuzzing as someone who may not answer changes nothing (404 / 403 each time).
        assert statuses == {
            handoff_ids["accept"]: "pending",
            handoff_ids["decline"]: "pending",
            handoff_ids["return"]: "accepted",
        }
    elif mode == "positive":
        # The real ids reached the state machine: valid answers went through once, then 409.
        assert statuses[handoff_ids["accept"]] in ("accepted", "declined")
        assert statuses[handoff_ids["decline"]] in ("accepted", "declined")
        assert statuses[handoff_ids["return"]] == "completed"


# --- Idempotency-Key on every POST ------------------------------------------------------------


def _idempotent_posts(ticket, account, success_manager, handoff, accepted, notification):
    return {
        "notes": (
            f"/api/v1/tickets/{ticket.number}/notes/",
            {"body": "Once"},
            lambda: Note.objects.filter(body_markdown="Once").count(),
        ),
        "handoffs": (
            f"/api/v1/tickets/{ticket.number}/handoffs/",
            {
                "to_user": success_manager.pk,
                "kind": "escalate_to_success",
                "reason": "expansion",
                "note": "Once",
            },
            lambda: Handoff.objects.filter(ticket=ticket).count(),
        ),
        "contacts": (
            "/api/v1/contacts/",
            {"email": "once@acme.example"},
            lambda: Contact.objects.filter(email="once@acme.example").count(),
        ),
        "accounts": (
            "/api/v1/accounts/",
            {"name": "Once Inc", "success_manager": success_manager.pk, "domains": ["once.ex"]},
            lambda: type(account).objects.filter(name="Once Inc").count(),
        ),
        "revenue-events": (
            "/api/v1/revenue-events/",  # no external_id: only the key makes it idempotent
            {"account": account.pk, "kind": "new", "mrr_delta": "9", "occurred_on": "2026-01-02"},
            lambda: account.revenue_events.count(),
        ),
        "survey-responses": (
            "/api/v1/survey-responses/",
            {"kind": "nps", "score": 10, "account": account.pk},
            lambda: account.survey_responses.count(),
        ),
        "take": (
            f"/api/v1/tickets/{ticket.number}/take/",
            {},
            lambda: ticket.events.filter(kind="assigned").count(),
        ),
        "decline": (
            f"/api/v1/handoffs/{handoff.pk}/decline/",
            {"reason": "Once"},
            lambda: handoff.ticket.events.filter(kind="handoff").count() - 1,
        ),
        "accept": (
            f"/api/v1/handoffs/{handoff.pk}/accept/",
            {},
            lambda: handoff.ticket.events.filter(kind="handoff").count() - 1,
        ),
        "return": (
            f"/api/v1/handoffs/{accepted.pk}/return/",
            {"note": "Back to you"},
            lambda: Note.objects.filter(body_markdown="Back to you").count(),
        ),
        "read": (
            f"/api/v1/notifications/{notification.pk}/read/",
            {},
            lambda: type(notification).objects.filter(read_at__isnull=False).count(),
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "notes",
        "handoffs",
        "contacts",
        "accounts",
        "revenue-events",
        "survey-responses",
        "take",
        "decline",
        "accept",
        "return",
        "read",
    ],
)
def test_idempotency_key_on_every_post(
    api_for, admin_user, agent, success_manager, account, make_ticket, name
):
    ticket = make_ticket()
    handoff = _escalate(make_ticket(subject="other"), agent, success_manager)
    accepted = handoff_accept(
        handoff=_escalate(make_ticket(subject="third"), agent, success_manager),
        user=success_manager,
    )
    [notification] = notify(recipients=[admin_user.pk], kind="mentioned", text="hi", ticket=ticket)
    url, payload, count = _idempotent_posts(
        ticket, account, success_manager, handoff, accepted, notification
    )[name]
    client = api_for(admin_user)
    first = client.post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY=f"key-{name}")
    assert 200 <= first.status_code < 300, first.content
    again = client.post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY=f"key-{name}")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert count() == 1
    assert IdempotencyKey.objects.filter(key=f"key-{name}").count() == 1


# --- throttling state lives in Redis, per token -----------------------------------------------


def test_throttle_budget_is_kept_in_redis_per_token(api_for, agent, settings):
    import redis

    settings.API_THROTTLE_RATE = "2/minute"
    client = api_for(agent)
    assert [client.get("/api/v1/users/me/").status_code for _ in range(3)] == [200, 200, 429]
    token = ApiToken.objects.get(user=agent)
    server = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(server.scan_iter(match=f"*throttle:api:token:{token.key_hash[:32]}*"))
    assert len(keys) == 1  # one budget for this token, in Redis (not process memory)
    server.delete(*keys)  # the budget is nowhere else: dropping the key restores it
    assert client.get("/api/v1/users/me/").status_code == 200


# --- tokens: revoked by an admin; the session with its CSRF token -----------------------------


def test_admin_revokes_a_token_in_admin(client, admin_user, api_for, agent):
    admin_user.is_superuser = True
    admin_user.save()
    api = api_for(agent)
    assert api.get("/api/v1/users/me/").status_code == 200
    token = ApiToken.objects.get(user=agent)
    client.force_login(admin_user)
    response = client.post(
        "/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api.get("/api/v1/users/me/").status_code == 401


def test_session_write_with_the_csrf_token_goes_through(agent, make_ticket):
    from rest_framework.test import APIClient

    ticket = make_ticket()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)
    client.get("/settings/tokens/")  # any page with a form sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        f"/api/v1/tickets/{ticket.number}/notes/",
        {"body": "with csrf"},
        format="json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == 201
    assert Note.objects.get(ticket=ticket).body_markdown == "with csrf"


# --- the schema documents bodies and error shapes --------------------------------------------


def test_schema_documents_request_bodies_and_error_shapes(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    no_body = {
        "/api/v1/handoffs/{id}/accept/",
        "/api/v1/tickets/{number}/take/",
        "/api/v1/notifications/{id}/read/",
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "post", "patch"):
                continue
            responses = operation["responses"]
            assert {"400", "401", "403", "404", "429"} <= set(responses), (method, path)
            success = [code for code in responses if code.startswith("2")]
            assert success, (method, path)
            for code in success:
                assert "application/json" in responses[code]["content"], (method, path, code)
            if method in ("post", "patch"):
                assert "409" in responses, (method, path)
                if path not in no_body:
                    assert "requestBody" in operation, (method, path)
            if method == "post":
                assert "422" in responses, (method, path)
                names = {p["name"] for p in operation.get("parameters", [])}
                assert "Idempotency-Key" in names, (method, path)
    components = schema["components"]["schemas"]
    assert set(components["Error"]["properties"]) >= {"detail"}
    accept = schema["paths"]["/api/v1/handoffs/{id}/accept/"]["post"]["responses"]
    assert accept["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Handoff")


@pytest.mark.parametrize("who", ["agent", "success_manager", "admin_user"])
def test_tag_filtered_ticket_list_pages_through_the_tag_links_in_order(
    request, api_for, make_ticket, support_team, who
):
    """With a tag the list pages in the tag links' date order (their copy of created_at):
    page after page, every visible tagged ticket once, newest first, as without the links."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inbox.selectors import ticket_visible_queryset

    user = request.getfixturevalue(who)
    base = timezone.now() - timezone.timedelta(days=9)
    made = []
    for n in range(7):
        ticket = make_ticket(subject=f"T{n}", tags=["vip"] if n != 3 else ["other"])
        # Two share a created_at: the id breaks the tie, in the links' order too.
        Ticket.objects.filter(pk=ticket.pk).update(
            created_at=base + timezone.timedelta(hours=n // 2)
        )
        made.append(ticket)
    make_ticket(subject="Elsewhere", team=None, tags=["vip"])  # not every role sees it
    # The reference: the tickets the user may see (the plain visibility filter), by date.
    expected = [
        t.subject
        for t in ticket_visible_queryset(user=user)
        .filter(tags__name="vip")
        .order_by("-created_at", "-id")
    ]
    assert len(expected) >= 6
    client = api_for(user)
    seen, url = [], "/api/v1/tickets/?tag=vip&page_size=2"
    while url:
        body = client.get(url).json()
        seen += [row["subject"] for row in body["results"]]
        url = body["next"]
    assert seen == expected
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/tickets/?tag=vip")
    listing = next(q["sql"] for q in queries.captured_queries if "inbox_ticket_tags" in q["sql"])
    plan = plan_without_sorting(listing, seqscan=True)
    assert "inbox_tickettag_walk_idx" in plan, plan


@pytest.mark.parametrize("who", ["agent", "success_manager"])
def test_tag_filtered_pages_read_from_the_links_go_both_ways_and_yield_to_other_filters(
    request, api_for, make_ticket, who
):
    """A tag list with only filters the links copy reads each page's ids from the links
    first (by the cursor's position and offset): forward and back it lists what the plain
    filter lists. With a filter the links lack (dates, requester, search) it does not."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inbox.selectors import ticket_visible_queryset

    user = request.getfixturevalue(who)
    base = timezone.now() - timezone.timedelta(days=9)
    for n in range(9):
        ticket = make_ticket(subject=f"T{n}", tags=["vip"] if n != 4 else ["other"])
        # Pairs share a created_at: the cursor's offset then has ties to skip.
        Ticket.objects.filter(pk=ticket.pk).update(
            created_at=base + timezone.timedelta(hours=n // 2)
        )
    visible = ticket_visible_queryset(user=user).filter(tags__name="vip")
    expected = [t.subject for t in visible.order_by("-created_at", "-id")]
    assert len(expected) >= 8
    client = api_for(user)
    pages, url = [], "/api/v1/tickets/?tag=vip&page_size=3"
    while url:
        with CaptureQueriesContext(connection) as queries:
            body = client.get(url).json()
        listing = next(q["sql"] for q in queries.captured_queries if "tag_created_at" in q["sql"])
        assert listing.count('FROM "inbox_ticket_tags"') == 1, listing  # the links' page
        pages.append(([row["subject"] for row in body["results"]], body["previous"]))
        url = body["next"]
    assert [s for page, _ in pages for s in page] == expected
    # Back from the last page: each previous link gives the page before it.
    for (before, _), (_, previous) in itertools.pairwise(pages):
        assert [row["subject"] for row in client.get(previous).json()["results"]] == before
    # A filter the links lack: the plain walk, and the right rows.
    since = base + timezone.timedelta(hours=2)
    later = visible.filter(created_at__gte=since).order_by("-created_at", "-id")
    later = [t.subject for t in later]
    after = since.isoformat().replace("+00:00", "Z")
    body = client.get(f"/api/v1/tickets/?tag=vip&created_after={after}&page_size=50").json()
    assert [row["subject"] for row in body["results"]] == later
