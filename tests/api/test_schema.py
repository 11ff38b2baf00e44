"""The OpenAPI schema is served, the docs work offline, and schemathesis finds no 5xx and
no response that violates the schema."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi import checks as openapi_checks

from notes.notify import notify

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 10
TIME_LIMIT_SECONDS = 150


def test_schema_lists_every_design_path(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = set(response.json()["paths"])
    assert {
        "/api/v1/tickets/",
        "/api/v1/tickets/{number}/",
        "/api/v1/tickets/{number}/messages/",
        "/api/v1/tickets/{number}/notes/",
        "/api/v1/tickets/{number}/handoffs/",
        "/api/v1/handoffs/{id}/accept/",
        "/api/v1/handoffs/{id}/decline/",
        "/api/v1/handoffs/{id}/return/",
        "/api/v1/accounts/",
        "/api/v1/accounts/{id}/",
        "/api/v1/accounts/{id}/metrics/",
        "/api/v1/contacts/",
        "/api/v1/revenue-events/",
        "/api/v1/survey-responses/",
        "/api/v1/notifications/",
        "/api/v1/notifications/{id}/read/",
        "/api/v1/users/me/",
    } <= paths
    schema = response.json()
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    ticket_get = schema["paths"]["/api/v1/tickets/{number}/"]["get"]["responses"]
    assert {"200", "401", "404", "429"} <= set(ticket_get)


def test_swagger_ui_is_served_from_local_static_files(client, agent):
    client.force_login(agent)
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def _path_values(ticket, account, notification) -> dict[str, dict]:
    return {
        "/api/v1/tickets/{number}/": {"number": ticket.number},
        "/api/v1/tickets/{number}/messages/": {"number": ticket.number},
        "/api/v1/tickets/{number}/notes/": {"number": ticket.number},
        "/api/v1/tickets/{number}/take/": {"number": ticket.number},
        "/api/v1/accounts/{id}/": {"id": account.pk},
        "/api/v1/accounts/{id}/metrics/": {"id": account.pk},
        "/api/v1/notifications/{id}/read/": {"id": notification.pk},
    }


@pytest.mark.timeout(TIME_LIMIT_SECONDS + 60)
@pytest.mark.parametrize("role", ["admin_user", "agent", "success_manager"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    request, role, api_for, make_ticket, account, wsgi_app
):
    from notes import services as notes_services

    user = request.getfixturevalue(role)
    token = api_for(user).raw_token
    ticket = make_ticket()
    notification = notify(recipients=[user.pk], kind="mentioned", text="hi", ticket=ticket)[0]
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    fixed = _path_values(ticket, account, notification)
    headers = {"Authorization": f"Token {token}"}
    has_handoffs = hasattr(notes_services, "handoff_create")
    deadline = time.monotonic() + TIME_LIMIT_SECONDS / 3
    checked = 0
    # Valid data may still be refused by business rules (a duplicate e-mail, an unknown id):
    # those are 400/404 answers the schema documents, so "positive data acceptance" is off.
    excluded = [openapi_checks.positive_data_acceptance]
    for result in schema.get_all_operations():
        operation = result.ok()
        if "handoff" in operation.path and not has_handoffs:
            continue  # the handoff services land from another branch (501 until then)
        strategies = [operation.as_strategy()]
        if operation.path in fixed:
            strategies.append(operation.as_strategy(path_parameters=fixed[operation.path]))

        @given(case=st.one_of(strategies))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=excluded)

        run()
        checked += 1
        if time.monotonic() > deadline:
            break
    assert checked >= 15
