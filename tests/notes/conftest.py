"""Fixtures for collaboration tests: a support ticket on Acme, made through the services."""

from __future__ import annotations

import pytest

from inbox.services import InboundContent, ticket_create


@pytest.fixture
def make_ticket(contact, support_team):
    def make(subject: str = "Renewal worries", team=support_team, requester=contact):
        return ticket_create(
            requester=requester,
            subject=subject,
            content=InboundContent(body_text="We are unhappy with the latest release."),
            team=team,
        )

    return make


@pytest.fixture
def ticket(make_ticket):
    return make_ticket()
