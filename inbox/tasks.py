"""Celery entry points for the inbox and the e-mail channel (queue `mail`)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="mail.send_outbound",
    acks_late=True,
    soft_time_limit=60,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def send_outbound_task(outbound_id: int, **kwargs: object) -> None:
    from .outbound import outbound_send

    outbound_send(outbound_id=outbound_id)


@shared_task(name="mail.sweep_outbound", acks_late=True, soft_time_limit=60)
def sweep_outbound_task(**kwargs: object) -> int:
    """Re-send what is due and still queued (the outbox is the truth, Redis is not)."""
    from .outbound import outbound_sweep

    ids = outbound_sweep()
    for outbound_id in ids:
        send_outbound_task.delay(outbound_id)
    return len(ids)


@shared_task(name="mail.poll_mailboxes", acks_late=True, soft_time_limit=60)
def poll_mailboxes_task(**kwargs: object) -> int:
    """Fan out one poll per active IMAP mailbox."""
    from helpdesk.models import Mailbox

    ids = list(
        Mailbox.objects.filter(is_active=True).exclude(imap_host="").values_list("pk", flat=True)
    )
    for mailbox_id in ids:
        poll_mailbox_task.delay(mailbox_id)
    return len(ids)


@shared_task(
    name="mail.poll_mailbox",
    acks_late=True,
    soft_time_limit=240,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def poll_mailbox_task(mailbox_id: int, **kwargs: object) -> int:
    from .email.imap import mailbox_poll

    return mailbox_poll(mailbox_id=mailbox_id).stored


@shared_task(name="mail.sweep_inbound", acks_late=True, soft_time_limit=240)
def sweep_inbound_task(**kwargs: object) -> int:
    """Process raw mail left in `received` (a crash between storing and parsing)."""
    from .email.ingest import inbound_process, inbound_stuck_ids

    ids = inbound_stuck_ids()
    for inbound_id in ids:
        inbound_process(inbound_id=inbound_id)
    return len(ids)


@shared_task(
    name="inbox.sla_sweep",
    acks_late=True,
    soft_time_limit=120,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def sla_sweep_task(**kwargs: object) -> int:
    """Flag tickets whose SLA clock ran out (each breach once: the flag is the record)."""
    from .services import sla_sweep

    return sla_sweep()
