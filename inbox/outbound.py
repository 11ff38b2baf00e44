"""Outbound e-mail: replies and system mail are outbox rows, sent by Celery after commit.

The outbox row is written in the same transaction as its cause; the on-commit task makes
delivery prompt, the periodic sweep makes it certain. Every row keeps one Message-ID across
retries, so a resend after a timeout is recognisable downstream. Only `Message` rows (the
public timeline) are ever quoted: internal notes live in another table and never get here.
"""

from __future__ import annotations

import html
import logging
import smtplib
from datetime import datetime, timedelta
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from helpdesk.models import Mailbox

from .email.quotes import mail_split
from .models import (
    Attachment,
    DeliveryStatus,
    Direction,
    Message,
    OutboundEmail,
    OutboundKind,
    Ticket,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
RETRY_BASE_SECONDS = 30  # 30 s, 1, 2, 4, 8 min: well under the broker visibility timeout
QUOTE_MESSAGES = 3
QUOTE_CHARS = 2000
SWEEP_BATCH = 500
# RFC 3834: automatic mail says so, and asks Exchange not to answer it automatically.
AUTO_REPLIED_HEADERS = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
AUTO_GENERATED_HEADERS = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
SYSTEM_KINDS = {OutboundKind.SURVEY, OutboundKind.NOTIFICATION, OutboundKind.DIGEST}


def new_message_id() -> str:
    return make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)


def _one_line(value: str) -> str:
    return " ".join((value or "").split())


def subject_with_token(ticket: Ticket) -> str:
    token = f"[#{ticket.number}]"
    subject = _one_line(ticket.subject)
    return subject if token in subject else f"{subject} {token}"


def thread_headers(ticket: Ticket, *, exclude_id: int | None = None) -> dict[str, str]:
    """In-Reply-To and References for a new message on the ticket's thread (RFC 5322 3.6.4)."""
    ids = list(
        Message.objects.filter(ticket=ticket)
        .exclude(pk=exclude_id)
        .exclude(message_id__isnull=True)
        .exclude(message_id="")
        .order_by("created_at", "id")
        .values_list("message_id", flat=True)
    )
    if not ids:
        return {}
    # The first id keeps the thread root for clients that trim long References.
    refs = ids if len(ids) <= 20 else [ids[0], *ids[-19:]]
    return {"In-Reply-To": ids[-1], "References": " ".join(refs)}


def quote_history(ticket: Ticket, *, exclude_id: int | None = None) -> str:
    """A trimmed quote of the latest public messages, newest first, for the mail body."""
    messages = list(
        Message.objects.filter(ticket=ticket, is_unparsed=False, is_automatic=False)
        .exclude(pk=exclude_id)
        .select_related("author_user", "author_contact")
        .order_by("-created_at", "-id")[:QUOTE_MESSAGES]
    )
    blocks = []
    for message in messages:
        if message.author_user_id:
            who = message.author_user.get_full_name() or message.author_user.username
        elif message.author_contact_id:
            who = str(message.author_contact)
        else:
            who = "Support"
        body = mail_split(message.body_text).body  # their own quotes are not re-quoted
        if len(body) > QUOTE_CHARS:
            body = body[:QUOTE_CHARS].rstrip() + " […]"
        when = timezone.localtime(message.created_at).strftime("%a, %d %b %Y %H:%M")
        quoted = "\n".join(f"> {line}" if line else ">" for line in body.splitlines())
        blocks.append(f"On {when}, {who} wrote:\n{quoted}")
    return "\n\n".join(blocks)


def reply_enqueue(*, message: Message) -> OutboundEmail | None:
    """Write the outbox row for a public outbound message (same transaction as the reply)."""
    if message.direction != Direction.OUTBOUND:
        raise ValueError("Only outbound messages are e-mailed.")
    ticket = Ticket.objects.select_related("requester", "mailbox").get(pk=message.ticket_id)
    headers = thread_headers(ticket, exclude_id=message.pk)
    message_id = new_message_id()
    message.message_id = message_id
    message.in_reply_to = headers.get("In-Reply-To", "")
    message.references = headers.get("References", "")
    message.delivery_status = DeliveryStatus.QUEUED
    message.save(update_fields=["message_id", "in_reply_to", "references", "delivery_status"])
    from_email = ticket.mailbox.email if ticket.mailbox_id else settings.DEFAULT_FROM_EMAIL
    ours = {
        from_email.lower(),
        *(e.lower() for e in Mailbox.objects.values_list("email", flat=True)),
    }
    # An automatic mail quotes nothing: with a forged From, quoting the inbound text would
    # relay an attacker's content to a victim (backscatter).
    quote = "" if message.is_automatic else quote_history(ticket, exclude_id=message.pk)
    body_text = f"{message.body_text.rstrip()}\n\n{quote}" if quote else message.body_text
    body_html = ""
    if message.body_html:
        quote_html = html.escape(quote).replace("\n", "<br>\n")
        body_html = message.body_html + (
            f'\n<blockquote type="cite">{quote_html}</blockquote>' if quote else ""
        )
    extra = AUTO_REPLIED_HEADERS if message.is_automatic else {}
    outbound = OutboundEmail.objects.create(
        kind=OutboundKind.ACKNOWLEDGEMENT if message.is_automatic else OutboundKind.REPLY,
        ticket_message=message,
        ticket=ticket,
        from_email=from_email,
        to=[ticket.requester.email],
        cc=[]
        if message.is_automatic  # an automatic answer goes to the sender only (RFC 3834)
        else [
            e
            for e in ticket.ccs.values_list("email", flat=True)
            if e.lower() not in ours and e.lower() != ticket.requester.email.lower()
        ],
        subject=f"Re: {subject_with_token(ticket)}",
        body_text=body_text,
        body_html=body_html,
        headers={**headers, **extra},
        message_id=message_id,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _enqueue_send(outbound.pk))
    return outbound


def acknowledgement_enqueue(*, ticket: Ticket, mailbox: Mailbox) -> OutboundEmail | None:
    """Auto-acknowledge a new ticket, at most once per sender per window (RFC 3834 5.)."""
    window = timezone.now() - timedelta(
        seconds=int(getattr(settings, "EMAIL_ACK_WINDOW_SECONDS", 24 * 3600))
    )
    address = ticket.requester.email
    if OutboundEmail.objects.filter(
        kind=OutboundKind.ACKNOWLEDGEMENT, to__contains=[address], created_at__gte=window
    ).exists():
        return None
    body = (mailbox.acknowledge_template or "").strip() or "We received your request."
    message = Message.objects.create(
        ticket=ticket,
        direction=Direction.OUTBOUND,
        is_automatic=True,
        subject=ticket.subject,
        body_text=f"{body}\n\nYour reference: [#{ticket.number}]",
    )
    return reply_enqueue(message=message)


def _enqueue_send(outbound_id: int, countdown: int | None = None) -> None:
    from .tasks import send_outbound_task

    try:
        send_outbound_task.apply_async(args=[outbound_id], countdown=countdown)
    except Exception:
        # Redis down: the row stays queued and the sweep sends it.
        logger.warning("send enqueue failed for %s", outbound_id)


def _celery_is_eager() -> bool:
    from config.celery import app

    return bool(app.conf.task_always_eager)


def _is_permanent(exc: Exception) -> bool:
    """Errors a retry cannot fix: bad headers, or every recipient refused with 5xx."""
    if isinstance(exc, BadHeaderError | ValueError | UnicodeError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _msg in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def outbound_send(*, outbound_id: int) -> str | None:
    """Send one outbox row once; a row already sent is left alone (idempotent).

    Returns the row's status after this attempt, or None when there was nothing to do.
    """
    retry_in = None
    with transaction.atomic():
        # The row lock is held over the SMTP conversation: a sweep racing the task skips it.
        outbound = (
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=outbound_id, status=DeliveryStatus.QUEUED)
            .first()
        )
        if outbound is None:
            return None  # sent already, failed for good, or another worker has it
        outbound.attempts += 1
        now = timezone.now()
        try:
            mail = EmailMultiAlternatives(
                subject=outbound.subject,
                body=outbound.body_text,
                from_email=outbound.from_email,
                to=outbound.to,
                cc=outbound.cc,
                headers={
                    "Message-ID": outbound.message_id,
                    **(AUTO_GENERATED_HEADERS if outbound.kind in SYSTEM_KINDS else {}),
                    **outbound.headers,
                },
            )
            if outbound.body_html:
                mail.attach_alternative(outbound.body_html, "text/html")
            _attach_files(mail, outbound)
            mail.send(fail_silently=False)
        except Exception as exc:
            outbound.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if _is_permanent(exc) or outbound.attempts >= MAX_ATTEMPTS:
                outbound.status = DeliveryStatus.FAILED
            else:
                retry_in = RETRY_BASE_SECONDS * 2 ** (outbound.attempts - 1)
                outbound.next_attempt_at = now + timedelta(seconds=retry_in)
            logger.warning("outbound %s attempt %s failed", outbound.pk, outbound.attempts)
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
        if retry_in is not None and not _celery_is_eager():
            # Eager Celery (embedded mode, tests) would retry at once: the sweep does it.
            transaction.on_commit(lambda: _enqueue_send(outbound_id, countdown=retry_in))
    return outbound.status


def _attach_files(mail: EmailMultiAlternatives, outbound: OutboundEmail) -> None:
    """Attach the files of the reply's timeline message (never a note's files)."""
    if not outbound.ticket_message_id:
        return
    for attachment in Attachment.objects.filter(message_id=outbound.ticket_message_id):
        with attachment.file.open("rb") as handle:
            mail.attach(attachment.filename, handle.read(), attachment.content_type)


def outbound_sweep(*, now: datetime | None = None) -> list[int]:
    """Ids of queued rows whose next attempt is due; the caller sends them.

    Rows written without a next attempt time (other producers of system mail) count as
    due once they are a minute old, so their own on-commit task goes first.
    """
    now = now or timezone.now()
    due = Q(next_attempt_at__lte=now) | Q(
        next_attempt_at__isnull=True, created_at__lte=now - timedelta(seconds=60)
    )
    return list(
        OutboundEmail.objects.filter(due, status=DeliveryStatus.QUEUED)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )


@transaction.atomic
def outbound_mark_bounced(*, message_ids: list[str], reason: str) -> int:
    """Mark our mail named by a bounce as failed; return how many rows matched.

    Only the delivery status changes: a bounce never reopens or otherwise edits a ticket.
    """
    rows = list(OutboundEmail.objects.select_for_update().filter(message_id__in=message_ids[:50]))
    error = f"bounced: {reason}"[:2000]
    for outbound in rows:
        outbound.status = DeliveryStatus.FAILED
        outbound.last_error = error
        outbound.save(update_fields=["status", "last_error", "updated_at"])
        if outbound.ticket_message_id:
            Message.objects.filter(pk=outbound.ticket_message_id).update(
                delivery_status=DeliveryStatus.FAILED, delivery_error=error
            )
    return len(rows)
