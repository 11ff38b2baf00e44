"""Accounts, contacts, revenue events, surveys, notifications and users/me per role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account, AccountMetrics, Contact, RevenueEvent, SurveyResponse
from helpdesk.models import Role
from notes.models import Notification
from notes.notify import notify
from tests.accounts.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_manager(make_user):
    return make_user(Role.SUCCESS, username="otto")


@pytest.fixture
def globex(other_manager):
    account = AccountFactory(name="Globex", success_manager=other_manager)
    ContactFactory(email="gina@globex.example", account=account)
    return account


# --- accounts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("agent", ["Acme", "Globex"]),
        ("success_manager", ["Acme"]),
        ("admin_user", ["Acme", "Globex"]),
    ],
)
def test_account_list_per_role(api_for, request, account, globex, role, expected):
    response = api_for(request.getfixturevalue(role)).get("/api/v1/accounts/")
    assert response.status_code == 200
    assert sorted(row["name"] for row in response.json()["results"]) == expected


def test_success_manager_cannot_read_another_book(
    api_for, success_manager, account, contact, globex
):
    client = api_for(success_manager)
    assert client.get(f"/api/v1/accounts/{account.pk}/").json()["name"] == "Acme"
    for path in (f"/api/v1/accounts/{globex.pk}/", f"/api/v1/accounts/{globex.pk}/metrics/"):
        response = client.get(path)
        assert response.status_code == 404
        assert "Globex" not in response.content.decode()
    contacts = client.get("/api/v1/contacts/").json()["results"]
    assert [c["email"] for c in contacts] == ["carol@acme.example"]


def test_account_metrics(api_for, success_manager, account):
    client = api_for(success_manager)
    empty = client.get(f"/api/v1/accounts/{account.pk}/metrics/").json()
    assert empty["computed_at"] is None
    assert empty["health_score"] is None
    now = timezone.now()
    AccountMetrics.objects.create(
        account=account,
        health_score=55.5,
        health_band="yellow",
        health_components={"csat": {"value": 80, "weight": 2}},
        csat_percent=80.0,
        computed_at=now,
    )
    body = client.get(f"/api/v1/accounts/{account.pk}/metrics/").json()
    assert body["health_score"] == 55.5
    assert body["health_band"] == "yellow"
    assert body["health_components"] == {"csat": {"value": 80, "weight": 2}}
    assert body["computed_at"].startswith(now.strftime("%Y-%m-%dT%H:%M"))
    listed = client.get("/api/v1/accounts/").json()["results"][0]
    assert (listed["health_score"], listed["health_band"]) == (55.5, "yellow")


@pytest.mark.parametrize(
    ("role", "status"), [("agent", 403), ("success_manager", 403), ("admin_user", 201)]
)
def test_account_create_needs_the_add_permission(api_for, request, success_manager, role, status):
    response = api_for(request.getfixturevalue(role)).post(
        "/api/v1/accounts/",
        {
            "name": "Initech",
            "plan": "basic",
            "success_manager": success_manager.pk,
            "domains": ["Initech.example"],
        },
        format="json",
    )
    assert response.status_code == status
    if status == 201:
        assert response.json()["domains"] == ["initech.example"]
        assert response.json()["success_manager"]["username"] == "sam"
    else:
        assert not Account.objects.filter(name="Initech").exists()


def test_account_create_validation(api_for, admin_user, account, agent):
    response = api_for(admin_user).post(
        "/api/v1/accounts/",
        {"name": "", "domains": ["acme.example"], "success_manager": agent.pk, "mrr": 5},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"mrr"}
    response = api_for(admin_user).post(
        "/api/v1/accounts/",
        {"name": "", "domains": ["acme.example"], "success_manager": agent.pk},
        format="json",
    )
    assert set(response.json()) == {"name", "domains", "success_manager"}


# --- contacts -----------------------------------------------------------------------------


def test_contact_create(api_for, success_manager, account, globex):
    client = api_for(success_manager)
    created = client.post(
        "/api/v1/contacts/", {"email": "new@acme.example", "name": "New"}, format="json"
    )
    assert created.status_code == 201
    assert created.json()["account"]["name"] == "Acme"  # matched by domain
    duplicate = client.post("/api/v1/contacts/", {"email": "NEW@acme.example"}, format="json")
    assert duplicate.status_code == 400
    assert "email" in duplicate.json()
    other_book = client.post(
        "/api/v1/contacts/", {"email": "x@y.example", "account": globex.pk}, format="json"
    )
    assert other_book.status_code == 400
    assert "account" in other_book.json()
    assert not Contact.objects.filter(email="x@y.example").exists()


def test_agents_cannot_create_contacts(api_for, agent):
    response = api_for(agent).post("/api/v1/contacts/", {"email": "a@b.example"}, format="json")
    assert response.status_code == 403
    assert not Contact.objects.filter(email="a@b.example").exists()


# --- revenue events -----------------------------------------------------------------------


def test_revenue_event_is_idempotent_on_external_id(api_for, success_manager, account):
    client = api_for(success_manager)
    payload = {
        "account": account.pk,
        "kind": "new",
        "mrr_delta": "250.00",
        "occurred_on": "2026-01-15",
        "external_id": "stripe:evt_1",
    }
    first = client.post("/api/v1/revenue-events/", payload, format="json")
    again = client.post("/api/v1/revenue-events/", payload, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert RevenueEvent.objects.filter(external_id="stripe:evt_1").count() == 1
    account.refresh_from_db()
    assert account.metrics_dirty_at is not None  # the recompute is asked for


def test_revenue_event_rules(api_for, success_manager, agent, account, globex):
    client = api_for(success_manager)
    wrong_sign = client.post(
        "/api/v1/revenue-events/",
        {"account": account.pk, "kind": "churn", "mrr_delta": "10", "occurred_on": "2026-01-01"},
        format="json",
    )
    assert wrong_sign.status_code == 400
    assert "mrr_delta" in wrong_sign.json()
    other_book = client.post(
        "/api/v1/revenue-events/",
        {"account": globex.pk, "kind": "new", "mrr_delta": "10", "occurred_on": "2026-01-01"},
        format="json",
    )
    assert other_book.status_code == 400
    assert "account" in other_book.json()
    forbidden = api_for(agent).post(
        "/api/v1/revenue-events/",
        {"account": account.pk, "kind": "new", "mrr_delta": "10", "occurred_on": "2026-01-01"},
        format="json",
    )
    assert forbidden.status_code == 403
    assert not RevenueEvent.objects.exists()


def test_revenue_event_external_id_of_another_book_is_404(
    api_for, success_manager, admin_user, account, globex
):
    payload = {
        "account": globex.pk,
        "kind": "new",
        "mrr_delta": "10",
        "occurred_on": "2026-01-01",
        "external_id": "g-1",
    }
    created = api_for(admin_user).post("/api/v1/revenue-events/", payload, format="json")
    assert created.status_code == 201
    mine = {**payload, "account": account.pk}
    response = api_for(success_manager).post("/api/v1/revenue-events/", mine, format="json")
    assert response.status_code == 404
    assert "Globex" not in response.content.decode()


# --- survey responses ---------------------------------------------------------------------


def test_survey_responses(api_for, admin_user, success_manager, agent, make_ticket, globex):
    ticket = make_ticket()
    client = api_for(admin_user)
    created = client.post(
        "/api/v1/survey-responses/",
        {"kind": "csat", "score": 5, "comment": "Great", "ticket": ticket.number},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["account"] == ticket.account_id
    assert created.json()["contact"] == ticket.requester_id
    twice = client.post(
        "/api/v1/survey-responses/",
        {"kind": "csat", "score": 4, "ticket": ticket.number},
        format="json",
    )
    assert twice.status_code == 400
    out_of_range = client.post(
        "/api/v1/survey-responses/", {"kind": "csat", "score": 9}, format="json"
    )
    assert out_of_range.status_code == 400
    SurveyResponse.objects.create(
        kind="nps", score=3, account=globex, responded_at=timezone.now(), source="api"
    )
    mine = api_for(success_manager).get("/api/v1/survey-responses/").json()["results"]
    assert [(r["kind"], r["score"]) for r in mine] == [("csat", 5)]
    assert len(client.get("/api/v1/survey-responses/").json()["results"]) == 2
    assert api_for(agent).get("/api/v1/survey-responses/").status_code == 403
    assert (
        api_for(success_manager)
        .post("/api/v1/survey-responses/", {"kind": "nps", "score": 9}, format="json")
        .status_code
        == 403
    )


# --- notifications and me -----------------------------------------------------------------


def test_notifications_are_mine_only(api_for, agent, other_agent, make_ticket):
    ticket = make_ticket()
    notify(recipients=[agent.pk, other_agent.pk], kind="mentioned", text="hi", ticket=ticket)
    client = api_for(agent)
    rows = client.get("/api/v1/notifications/").json()["results"]
    assert [(r["text"], r["ticket"], r["is_read"]) for r in rows] == [("hi", ticket.number, False)]
    theirs = Notification.objects.get(recipient=other_agent)
    assert client.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    read = client.post(f"/api/v1/notifications/{rows[0]['id']}/read/")
    assert read.status_code == 200
    assert read.json()["is_read"] is True
    assert client.get("/api/v1/notifications/?unread=true").json()["results"] == []


def test_users_me(api_for, success_manager):
    body = api_for(success_manager).get("/api/v1/users/me/").json()
    assert (body["username"], body["role"]) == ("sam", "success")
    assert [team["handle"] for team in body["teams"]] == ["success"]


# --- query counts -------------------------------------------------------------------------


def _grow(kind: str, count: int, *, admin_user, agent, account) -> None:
    now = timezone.now()
    if kind == "accounts":
        while Account.objects.count() < count:
            new = AccountFactory()
            new.domains.create(domain=f"d{new.pk}.example")
            AccountMetrics.objects.create(account=new, health_score=50, computed_at=now)
    elif kind == "contacts":
        while Contact.objects.count() < count:
            ContactFactory(account=account)
    elif kind == "survey-responses":
        while SurveyResponse.objects.count() < count:
            SurveyResponse.objects.create(
                kind="nps", score=8, account=account, responded_at=now - timedelta(days=1)
            )
    elif kind == "notifications":
        from inbox.services import InboundContent, ticket_create

        while Notification.objects.filter(recipient=agent).count() < count:
            contact = ContactFactory(account=account)
            ticket = ticket_create(
                requester=contact, subject="s", content=InboundContent(body_text="b")
            )
            notify(
                recipients=[agent.pk], kind="mentioned", text="x", ticket=ticket, actor=admin_user
            )


@pytest.mark.parametrize(
    ("kind", "who", "expected"),
    [
        # token, permissions (user, groups), rows, prefetch of domains
        ("accounts", "admin_user", 5),
        ("contacts", "admin_user", 4),
        ("survey-responses", "admin_user", 4),
        ("notifications", "agent", 2),  # token, rows (actor and ticket joined)
    ],
)
def test_lists_cost_a_fixed_number_of_queries(
    api_for, request, admin_user, agent, account, django_assert_num_queries, kind, who, expected
):
    client = api_for(request.getfixturevalue(who))
    url = f"/api/v1/{kind}/?page_size=200"
    counts = []
    for size in (5, 50):
        _grow(kind, size, admin_user=admin_user, agent=agent, account=account)
        client.get(url)  # warm-up (token last_used_at)
        with django_assert_num_queries(expected):
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(response.json()["results"]))
    assert counts == [5, 50]
