"""Celery entry points for the inbox and the e-mail channel."""

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
