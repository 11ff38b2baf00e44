"""Which ticket does an inbound mail belong to?

1. Any stored Message-ID (ours or the customer's) named in In-Reply-To or *any* References
   entry (RFC 5322 3.6.4) — not only the first, unlike some peers.
2. The `[#1234]` subject token, but only when the sender is already the requester or a CC of
   that ticket: a stranger quoting a number must not write into someone else's ticket.
Otherwise the mail opens a new ticket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection

from inbox.models import Message, OutboundEmail, OutboundKind, Ticket

# Mail to staff about a ticket. A reply to it is staff talk and must never become a public
# message that a later customer reply would quote (Odoo #15621).
STAFF_KINDS = (OutboundKind.NOTIFICATION, OutboundKind.DIGEST)

SUBJECT_TOKEN_RE = re.compile(r"\[#(\d{1,9})\]")


@dataclass(frozen=True)
class ThreadMatch:
    """What the stored mail says about an inbound one, from its Message-ID and thread ids."""

    is_known: bool  # a message or sent mail already has the mail's own Message-ID
    notification_id: int | None  # the staff notification it answers
    ticket_id: int | None  # the ticket of the newest stored message it refers to


def thread_match(*, message_id: str, thread_ids: list[str]) -> ThreadMatch:
    """Is the mail known, which staff notification does it answer, which ticket does it
    continue: the ticket of the first id (In-Reply-To, then References newest first) that a
    stored message, or else an outbox row other than staff mail, carries. One query on
    PostgreSQL for what took three or four."""
    ids = [*thread_ids, message_id] if message_id else list(thread_ids)
    if not ids:
        return ThreadMatch(is_known=False, notification_id=None, ticket_id=None)
    rows = _stored_with_message_ids(ids)  # (is_sent, message_id, ticket_id, id, kind)
    threads = set(thread_ids)
    known = bool(message_id) and any(row[1] == message_id for row in rows)
    staff = [r[3] for r in rows if r[0] and r[4] in STAFF_KINDS and r[1] in threads]
    tickets = {r[1]: r[2] for r in rows if not r[0] and r[1] in threads}
    for is_sent, mid, ticket_id, _pk, kind in rows:  # outbox rows: mail without a message
        if is_sent and kind not in STAFF_KINDS and ticket_id is not None and mid in threads:
            tickets.setdefault(mid, ticket_id)
    ticket_id = next((tickets[mid] for mid in thread_ids if mid in tickets), None)
    return ThreadMatch(
        is_known=known, notification_id=min(staff) if staff else None, ticket_id=ticket_id
    )


def _stored_with_message_ids(ids: list[str]) -> list[tuple]:
    """Messages and outbox rows with these Message-IDs (each is unique in its table)."""
    if connection.vendor != "postgresql":
        received = Message.objects.filter(message_id__in=ids).values_list(
            "message_id", "ticket_id", "id"
        )
        sent = OutboundEmail.objects.filter(message_id__in=ids).values_list(
            "message_id", "ticket_id", "id", "kind"
        )
        return [(False, *row, "") for row in received] + [(True, *row) for row in sent]
    sql = (
        f"SELECT false, message_id, ticket_id, id, '' FROM {Message._meta.db_table}"  # noqa: S608
        f" WHERE message_id = ANY(%s) UNION ALL"
        f" SELECT true, message_id, ticket_id, id, kind FROM {OutboundEmail._meta.db_table}"
        f" WHERE message_id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, ids])
        return cursor.fetchall()


def ticket_for_subject_token(*, subject: str, sender_email: str) -> Ticket | None:
    """The ticket named by `[#n]` in the subject, if the sender takes part in it."""
    if not sender_email:
        return None
    for number in SUBJECT_TOKEN_RE.findall(subject or ""):
        ticket = Ticket.objects.select_related("requester").filter(number=int(number)).first()
        if ticket is None:
            continue
        if ticket.requester.email.lower() == sender_email.lower():
            return ticket
        if ticket.ccs.filter(email__iexact=sender_email).exists():
            return ticket
    return None


def ticket_resolve_merged(ticket: Ticket) -> Ticket:
    """Follow merges to the surviving ticket (bounded, in case of a bad cycle)."""
    seen = {ticket.pk}
    while ticket.merged_into_id and ticket.merged_into_id not in seen:
        seen.add(ticket.merged_into_id)
        ticket = Ticket.objects.select_related("requester").get(pk=ticket.merged_into_id)
    return ticket
