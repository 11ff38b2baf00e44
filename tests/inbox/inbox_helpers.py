"""Helpers for inbox tests: tickets made through the real services."""

from __future__ import annotations

from itertools import count

from django.db import connection

from accounts.services import contact_get_or_create
from inbox.selectors import TicketFilters, _filtered, ticket_list_for_inbox, user_team_ids
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


def reference_numbers(user, filters: TicketFilters) -> list[int]:
    """The plain filter (tickets, with the tag as a subquery on its links), sorted."""
    rows = _filtered(user=user, filters=filters, team_ids=user_team_ids(user=user))
    order = ("-created_at", "-id") if filters.sort == "newest" else ("created_at", "id")
    return list(rows.order_by(*order).values_list("number", flat=True))


def walked_numbers(user, filters: TicketFilters, page_size: int) -> list[int]:
    seen, cursor = [], ""
    while True:
        page = ticket_list_for_inbox(user=user, filters=filters, cursor=cursor, limit=page_size)
        seen += [row.number for row in page.tickets]
        if not page.next_cursor:
            return seen
        cursor = page.next_cursor


def database_dsn() -> str:
    """The test database's address, for a second (and third) connection of its own."""
    s = connection.settings_dict
    return f"host={s['HOST']} port={s['PORT']} user={s['USER']} dbname={s['NAME']}"
