"""Helpers for inbox tests: tickets made through the real services."""

from __future__ import annotations

from itertools import count

from django.db import connection

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


def plan_without_sorting(sql: str, *, seqscan: bool = False) -> str:
    """PostgreSQL's plan for `sql` with sorting (and, unless asked, seq scans) priced out:
    an index then shows in it only if it hands the rows over in the query's order."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        if not seqscan:
            cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())
