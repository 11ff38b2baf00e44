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
    """One query on PostgreSQL for what took three or four: is the mail known, which staff
    notification does it answer, which ticket does it continue (as ticket_for_thread)."""
    if connection.vendor != "postgresql":
        known = bool(message_id) and (
            Message.objects.filter(message_id=message_id).exists()
            or OutboundEmail.objects.filter(message_id=message_id).exists()
        )
        notification = staff_notification_for_thread(thread_ids=thread_ids)
        ticket = ticket_for_thread(thread_ids=thread_ids)
        return ThreadMatch(
            is_known=known,
            notification_id=notification.pk if notification else None,
            ticket_id=ticket.pk if ticket else None,
        )
    ids = [*thread_ids, message_id] if message_id else list(thread_ids)
    if not ids:
        return ThreadMatch(is_known=False, notification_id=None, ticket_id=None)
    received, sent = Message._meta.db_table, OutboundEmail._meta.db_table
    sql = (
        f"SELECT false, message_id, ticket_id, id, '' FROM {received}"  # noqa: S608
        f" WHERE message_id = ANY(%s)"
        f" UNION ALL SELECT true, message_id, ticket_id, id, kind FROM {sent}"
        f" WHERE message_id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, ids])
        rows = cursor.fetchall()
    threads = set(thread_ids)
    known = any(row[1] == message_id for row in rows) if message_id else False
    staff = [r[3] for r in rows if r[0] and r[4] in STAFF_KINDS and r[1] in threads]
    tickets: dict[str, int] = {r[1]: r[2] for r in rows if not r[0] and r[1] in threads}
    for is_sent, mid, ticket_id, _pk, kind in rows:  # outbox rows: mail without a message
        if is_sent and kind not in STAFF_KINDS and ticket_id is not None and mid in threads:
            tickets.setdefault(mid, ticket_id)
    ticket_id = next((tickets[mid] for mid in thread_ids if mid in tickets), None)
    return ThreadMatch(
        is_known=known, notification_id=min(staff) if staff else None, ticket_id=ticket_id
    )


def ticket_for_thread(*, thread_ids: list[str]) -> Ticket | None:
    """The ticket of the newest stored message the mail refers to, if any."""
    if not thread_ids:
        return None
    found = dict(
        Message.objects.filter(message_id__in=thread_ids).values_list("message_id", "ticket_id")
    )
    # Outbox rows carry the Message-ID of mail we sent without a timeline message.
    for message_id, ticket_id in (
        OutboundEmail.objects.filter(message_id__in=thread_ids, ticket__isnull=False)
        .exclude(kind__in=STAFF_KINDS)
        .values_list("message_id", "ticket_id")
    ):
        found.setdefault(message_id, ticket_id)
    for message_id in thread_ids:  # In-Reply-To first, then References newest first
        if message_id in found:
            return Ticket.objects.select_related("requester").get(pk=found[message_id])
    return None


def staff_notification_for_thread(*, thread_ids: list[str]) -> OutboundEmail | None:
    """The staff notification this mail answers, if it answers one."""
    if not thread_ids:
        return None
    return (
        OutboundEmail.objects.filter(message_id__in=thread_ids, kind__in=STAFF_KINDS)
        .select_related("ticket")
        .first()
    )


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
