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
