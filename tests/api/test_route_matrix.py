"""Every API route, enumerated from the router: anonymous and revoked tokens get 401, and
each route is listed in the role matrix below (a new route fails here until it is)."""

from __future__ import annotations

import re

import pytest

from api.models import ApiToken
from api.services import token_revoke
from api.urls import router

pytestmark = pytest.mark.django_db

# route name -> the test module that covers who can read, write and who gets 404
ROLE_MATRIX = {
    "ticket-list": "test_tickets",
    "ticket-detail": "test_tickets",
    "ticket-take": "test_tickets",
    "ticket-messages": "test_tickets",
    "ticket-notes": "test_tickets",
    "ticket-handoffs": "test_handoffs",
    "handoff-accept": "test_handoffs",
    "handoff-decline": "test_handoffs",
    "handoff-return": "test_handoffs",
    "account-list": "test_resources",
    "account-detail": "test_resources",
    "account-metrics": "test_resources",
    "contact-list": "test_resources",
    "revenue-event-list": "test_resources",
    "survey-response-list": "test_resources",
    "notification-list": "test_resources",
    "notification-read": "test_resources",
    "user-me": "test_resources",
}


def _routes() -> list[tuple[str, str]]:
    routes = []
    for pattern in router.urls:  # the JSON catch-all 404 is not a resource
        path = "/api/v1/" + str(pattern.pattern).lstrip("^").rstrip("$")
        path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)
        routes.append((pattern.name, path))
    return routes


def test_every_route_is_in_the_role_matrix():
    assert {name for name, _path in _routes()} == set(ROLE_MATRIX)


@pytest.mark.parametrize(("name", "path"), _routes())
def test_anonymous_and_revoked_tokens_get_401(api_for, agent, name, path):
    anonymous = api_for(None)
    revoked = api_for(agent)
    token_revoke(token=ApiToken.objects.get(user=agent))
    for client in (anonymous, revoked):
        for method in ("get", "post"):
            response = getattr(client, method)(path, {}, format="json")
            assert response.status_code in (401, 405), (method, path)
            if response.status_code == 401:
                assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(("name", "path"), _routes())
@pytest.mark.parametrize("role", ["agent", "success_manager", "admin_user"])
def test_every_route_answers_the_browser_session_without_error(
    client, request, make_ticket, name, path, role
):
    """The browser session is the other way in: no 5xx on any route, reads or writes."""
    ticket = make_ticket()
    client.force_login(request.getfixturevalue(role))
    path = path.replace("/tickets/1/", f"/tickets/{ticket.number}/")
    for method in ("get", "post"):
        response = getattr(client, method)(path, {}, content_type="application/json")
        assert response.status_code < 500, (method, path)
