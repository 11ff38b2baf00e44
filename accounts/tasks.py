"""Celery entry points for account metrics: ids in, nothing out, idempotent."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="accounts.recompute_metrics",
    acks_late=True,
    soft_time_limit=120,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def recompute_metrics_task(account_ids: list[int], **kwargs: object) -> None:
    from accounts.metrics import recompute_accounts  # keeps tasks <-> services acyclic

    recompute_accounts(account_ids=account_ids)
