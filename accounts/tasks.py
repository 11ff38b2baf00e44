"""Celery entry points for account metrics: ids in, nothing out, idempotent."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django.db import OperationalError

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500


@shared_task(
    name="accounts.recompute_metrics",
    acks_late=True,
    reject_on_worker_lost=True,  # a killed worker's task goes back to the queue
    soft_time_limit=300,
    time_limit=360,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def recompute_metrics_task(account_ids: list[int], **kwargs: object) -> None:
    from accounts.metrics import recompute_accounts  # keeps tasks <-> services acyclic
    from accounts.services import coalesce_key

    try:
        # Before reading: changes committed from now on queue a task of their own.
        cache.delete_many([coalesce_key(pk) for pk in account_ids])
    except Exception:
        logger.warning("could not clear coalescing keys", exc_info=True)
    recompute_accounts(account_ids=account_ids)


def _fan_out(ids: list[int], chunk_size: int) -> None:
    for start in range(0, len(ids), chunk_size):
        recompute_metrics_task.delay(ids[start : start + chunk_size])


@shared_task(name="accounts.sweep_dirty_metrics", acks_late=True, soft_time_limit=60)
def sweep_dirty_metrics_task(chunk_size: int = CHUNK_SIZE, **kwargs: object) -> None:
    """Queue a recompute for every account still flagged dirty (Redis was down, a task lost)."""
    from accounts.models import Account

    ids = list(
        Account.objects.filter(metrics_dirty_at__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    _fan_out(ids, chunk_size)


@shared_task(name="accounts.recompute_all_metrics", acks_late=True, soft_time_limit=120)
def recompute_all_metrics_task(chunk_size: int = CHUNK_SIZE, **kwargs: object) -> None:
    """Fan the nightly full recompute out in chunks of ids, one task per chunk."""
    from accounts.models import Account

    ids = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    _fan_out(ids, chunk_size)


@shared_task(name="accounts.send_nps_surveys", acks_late=True, soft_time_limit=300)
def send_nps_surveys_task(limit: int = 500, **kwargs: object) -> None:
    """Send the NPS surveys that are due (each contact at most once per interval)."""
    from accounts.surveys import nps_send_due

    nps_send_due(limit=limit)


@shared_task(name="accounts.recompute_plan_metrics", acks_late=True, soft_time_limit=120)
def recompute_plan_metrics_task(plan: str, chunk_size: int = CHUNK_SIZE, **kwargs: object) -> None:
    """Mark every account of `plan` dirty (its CLV shares the plan's churn) and fan out."""
    from django.utils import timezone

    from accounts.models import Account

    accounts = Account.objects.filter(plan=plan)
    # Marked first, so a lost chunk task is still found by the sweep.
    accounts.filter(metrics_dirty_at__isnull=True).update(metrics_dirty_at=timezone.now())
    ids = list(accounts.order_by("pk").values_list("pk", flat=True))
    _fan_out(ids, chunk_size)
