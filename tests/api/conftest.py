"""API fixtures: a client per role, authenticated with a real token."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.services import contact_get_or_create
from api.services import token_create
from helpdesk.models import User
from inbox.models import Ticket
from inbox.services import InboundContent, ticket_create


@pytest.fixture
def api_for() -> Callable[[User | None], APIClient]:
    """Return an APIClient that sends `Authorization: Token <key>` for the user."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            _token, raw = token_create(user=user, name="tests")
            client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
            client.raw_token = raw
        return client

    return make


@pytest.fixture
def make_ticket(contact, support_team) -> Callable[..., Ticket]:
    """Create a ticket the way a channel does (through inbox.services)."""

    def make(
        subject: str = "Printer on fire",
        body: str = "Please help",
        team=support_team,
        requester=None,
        **kwargs: object,
    ) -> Ticket:
        return ticket_create(
            requester=requester or contact,
            subject=subject,
            content=InboundContent(body_text=body, subject=subject),
            team=team,
            **kwargs,
        )

    return make


@pytest.fixture
def stranger_contact(db):
    """A contact of no account the success manager owns."""
    return contact_get_or_create(email="dave@elsewhere.example", name="Dave")


@pytest.fixture
def wsgi_app():
    """The real WSGI app, keeping the test's database connection (as Django's test client
    does: the per-request connection closing would end the test transaction)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    from django.core.wsgi import get_wsgi_application

    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
