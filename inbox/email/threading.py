"""Which ticket does an inbound mail belong to?

1. Any stored Message-ID (ours or the customer's) named in In-Reply-To or *any* References
   entry (RFC 5322 3.6.4) — not only the first, unlike some peers.
2. The `[#1234]` subject token, but only when the sender is already the requester or a CC of
   that ticket: a stranger quoting a number must not write into someone else's ticket.
Otherwise the mail opens a new ticket.
"""

from __future__ import annotations

import re

from inbox.models import Message, OutboundEmail, OutboundKind, Ticket

# Mail to staff about a ticket. A reply to it is staff talk and must never become a public
# message that a later customer reply would quote (Odoo #15621).
STAFF_KINDS = (OutboundKind.NOTIFICATION, OutboundKind.DIGEST)

SUBJECT_TOKEN_RE = re.compile(r"\[#(\d{1,9})\]")


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
