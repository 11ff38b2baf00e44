"""Helpers for inbox tests: tickets made through the real services."""

from __future__ import annotations

from itertools import count

from accounts.services import contact_get_or_create
from inbox.services import InboundContent, ticket_create

_seq = count(1)


def new_ticket(*, team=None, email: str | None = None, subject: str = "", body: str = "", **kw):
    """Open a ticket as a customer's e-mail would."""
    n = next(_seq)
    contact = contact_get_or_create(email=email or f"cust{n}@example.com", name=f"Cust {n}")
    return ticket_create(
        requester=contact,
        subject=subject or f"Question number {n}",
        content=InboundContent(body_text=body or f"Hello, I have problem {n}."),
        team=team,
        **kw,
    )
