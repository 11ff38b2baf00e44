"""Celery entry points for collaboration: notification e-mail and overdue handoffs."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="notes.deliver_notifications",
    acks_late=True,
    soft_time_limit=120,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def deliver_notifications_task(notification_ids: list[int] | None = None, **kwargs: object) -> int:
    """Mail pending notifications (given ids: immediate ones now; none: the periodic sweep)."""
    from .delivery import notifications_deliver

    return len(notifications_deliver(notification_ids=notification_ids))


@shared_task(
    name="notes.handoff_overdue",
    acks_late=True,
    soft_time_limit=120,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def handoff_overdue_task(**kwargs: object) -> int:
    from .services import handoff_overdue_notify

    return handoff_overdue_notify()
