from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="automations.time_sweep",
    acks_late=True,
    soft_time_limit=240,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def time_sweep_task(**kwargs: object) -> int:
    from .sweep import time_rules_sweep

    return time_rules_sweep()
