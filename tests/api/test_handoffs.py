"""Handoff endpoints: the same state machine as the web (notes.services), per role."""

from __future__ import annotations

import pytest

from notes.models import Handoff
from tests.notes.factories import HandoffFactory

pytestmark = pytest.mark.django_db


def test_ticket_handoffs_list_per_role(
    api_for, agent, other_agent, success_manager, make_ticket, django_assert_num_queries
):
    ticket = make_ticket()
    HandoffFactory(ticket=ticket, from_user=agent, to_user=success_manager)
    url = f"/api/v1/tickets/{ticket.number}/handoffs/"
    rows = api_for(agent).get(url).json()["results"]
    assert [(r["kind"], r["to_user"]["username"]) for r in rows] == [("escalate_to_success", "sam")]
    assert api_for(success_manager).get(url).status_code == 200
    assert api_for(other_agent).get(url).status_code == 404


def test_handoff_list_query_count_is_flat(api_for, agent, make_ticket, django_assert_num_queries):
    ticket = make_ticket()
    client = api_for(agent)
    url = f"/api/v1/tickets/{ticket.number}/handoffs/?page_size=200"
    for size in (5, 50):
        while Handoff.objects.filter(ticket=ticket).count() < size:
            HandoffFactory(ticket=ticket, from_user=agent, status="declined")
        client.get(url)
        with django_assert_num_queries(3):  # token, ticket, handoffs with their people
            response = client.get(url)
        assert len(response.json()["results"]) == size


def test_handoff_answer_of_an_invisible_handoff_is_404(api_for, other_agent, agent, make_ticket):
    handoff = HandoffFactory(ticket=make_ticket(), from_user=agent)
    for action in ("accept", "decline", "return"):
        response = api_for(other_agent).post(
            f"/api/v1/handoffs/{handoff.pk}/{action}/", {"reason": "x"}, format="json"
        )
        assert response.status_code == 404


def test_escalate_accept_and_answering_twice_is_409(api_for, agent, success_manager, make_ticket):
    ticket = make_ticket()
    created = api_for(agent).post(
        f"/api/v1/tickets/{ticket.number}/handoffs/",
        {
            "to_user": success_manager.pk,
            "kind": "escalate_to_success",
            "reason": "churn_risk",
            "note": "They mentioned a competitor.",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    handoff_id = created.json()["id"]
    assert created.json()["status"] == "pending"
    manager = api_for(success_manager)
    accepted = manager.post(f"/api/v1/handoffs/{handoff_id}/accept/")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    again = manager.post(f"/api/v1/handoffs/{handoff_id}/accept/")
    assert again.status_code == 409


def test_decline_needs_a_reason(api_for, agent, success_manager, make_ticket):
    ticket = make_ticket()
    created = api_for(agent).post(
        f"/api/v1/tickets/{ticket.number}/handoffs/",
        {
            "to_user": success_manager.pk,
            "kind": "escalate_to_success",
            "reason": "expansion",
            "note": "Wants more seats.",
        },
        format="json",
    )
    handoff_id = created.json()["id"]
    manager = api_for(success_manager)
    assert manager.post(f"/api/v1/handoffs/{handoff_id}/decline/", {}, format="json").json() == {
        "reason": ["This field is required."]
    }
    declined = manager.post(
        f"/api/v1/handoffs/{handoff_id}/decline/", {"reason": "Not my book"}, format="json"
    )
    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"


def test_handoff_create_input_is_validated(api_for, agent, success_manager, make_ticket):
    ticket = make_ticket()
    response = api_for(agent).post(
        f"/api/v1/tickets/{ticket.number}/handoffs/",
        {"kind": "vanish", "reason": "other", "owner": 1},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"owner"}
    response = api_for(agent).post(
        f"/api/v1/tickets/{ticket.number}/handoffs/",
        {"kind": "vanish", "reason": "other", "to_user": agent.pk, "to_team": 999999},
        format="json",
    )
    assert set(response.json()) == {"kind", "to_team", "note"}
    assert not Handoff.objects.exists()
