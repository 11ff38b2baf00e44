"""Outbound e-mail: replies and system mail are outbox rows, sent by Celery after commit."""

from __future__ import annotations

from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from .models import DeliveryStatus, Direction, Message, OutboundEmail, OutboundKind, Ticket

MAX_ATTEMPTS = 6


def new_message_id() -> str:
    return make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)


def subject_with_token(ticket: Ticket) -> str:
    token = f"[#{ticket.number}]"
    subject = ticket.subject
    return subject if token in subject else f"{subject} {token}"


def thread_headers(ticket: Ticket) -> dict[str, str]:
    """In-Reply-To and References for a new message on the ticket's thread (RFC 5322 3.6.4)."""
    ids = list(
        Message.objects.filter(ticket=ticket)
        .exclude(message_id__isnull=True)
        .exclude(message_id="")
        .order_by("created_at", "id")
        .values_list("message_id", flat=True)
    )
    if not ids:
        return {}
    return {"In-Reply-To": ids[-1], "References": " ".join(ids[-20:])}


def reply_enqueue(*, message: Message) -> OutboundEmail | None:
    """Write the outbox row for an agent's public reply (same transaction as the reply)."""
    if message.direction != Direction.OUTBOUND:
        raise ValueError("Only outbound messages are e-mailed.")
    ticket = message.ticket
    headers = thread_headers(ticket)
    message_id = new_message_id()
    message.message_id = message_id
    message.in_reply_to = headers.get("In-Reply-To", "")
    message.references = headers.get("References", "")
    message.delivery_status = DeliveryStatus.QUEUED
    message.save(update_fields=["message_id", "in_reply_to", "references", "delivery_status"])
    from_email = ticket.mailbox.email if ticket.mailbox_id else settings.DEFAULT_FROM_EMAIL
    outbound = OutboundEmail.objects.create(
        kind=OutboundKind.ACKNOWLEDGEMENT if message.is_automatic else OutboundKind.REPLY,
        ticket_message=message,
        ticket=ticket,
        from_email=from_email,
        to=[ticket.requester.email],
        cc=list(ticket.ccs.values_list("email", flat=True)),
        subject=f"Re: {subject_with_token(ticket)}",
        body_text=message.body_text,
        body_html=message.body_html,
        headers={
            **headers,
            **({"Auto-Submitted": "auto-replied"} if message.is_automatic else {}),
        },
        message_id=message_id,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _enqueue_send(outbound.pk))
    return outbound


def _enqueue_send(outbound_id: int) -> None:
    from .tasks import send_outbound_task

    try:
        send_outbound_task.delay(outbound_id)
    except Exception:
        import logging

        logging.getLogger(__name__).warning("send enqueue failed for %s", outbound_id)


def outbound_send(*, outbound_id: int) -> None:
    """Send one outbox row once; a row already sent is left alone (idempotent)."""
    with transaction.atomic():
        outbound = (
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=outbound_id, status=DeliveryStatus.QUEUED)
            .first()
        )
        if outbound is None:
            return  # sent already, failed for good, or another worker has it
        mail = EmailMultiAlternatives(
            subject=outbound.subject,
            body=outbound.body_text,
            from_email=outbound.from_email,
            to=outbound.to,
            cc=outbound.cc,
            headers={"Message-ID": outbound.message_id, **outbound.headers},
        )
        if outbound.body_html:
            mail.attach_alternative(outbound.body_html, "text/html")
        outbound.attempts += 1
        now = timezone.now()
        try:
            mail.send(fail_silently=False)
        except Exception as exc:
            outbound.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if outbound.attempts >= MAX_ATTEMPTS:
                outbound.status = DeliveryStatus.FAILED
            else:
                outbound.next_attempt_at = now + timezone.timedelta(
                    seconds=30 * 2 ** (outbound.attempts - 1)
                )
        else:
            outbound.status = DeliveryStatus.SENT
            outbound.sent_at = now
            outbound.last_error = ""
        outbound.save(
            update_fields=[
                "attempts",
                "status",
                "sent_at",
                "last_error",
                "next_attempt_at",
                "updated_at",
            ]
        )
        if outbound.ticket_message_id:
            Message.objects.filter(pk=outbound.ticket_message_id).update(
                delivery_status=outbound.status,
                delivery_error=outbound.last_error,
                sent_at=outbound.sent_at,
            )
