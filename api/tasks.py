"""Celery: deliver webhook outbox rows, retrying with exponential backoff."""

from __future__ import annotations

import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import DeliveryStatus, WebhookDelivery

LEASE = timedelta(seconds=120)  # longer than one attempt can take (timeout + signing)


@shared_task(name="api.deliver_webhook", acks_late=True, soft_time_limit=60)
def deliver_webhook_task(delivery_id: int, **kwargs: object) -> str:
    """Send one delivery attempt; schedule the next one or mark the delivery failed."""
    from .webhooks import (
        USER_AGENT,
        UnsafeTarget,
        target_resolve,
        webhook_body,
        webhook_post,
        webhook_signature,
    )

    now = timezone.now()
    # Claim with a lease: a duplicate task (sweep + on-commit) finds nothing to do.
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE)
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    webhook = delivery.webhook
    delivery.attempts += 1
    fields = ["attempts", "status", "next_attempt_at", "response_code", "error"]
    if not webhook.is_active:
        delivery.status = DeliveryStatus.FAILED
        delivery.error = "Webhook disabled."
        delivery.save(update_fields=fields)
        return "failed"
    body = webhook_body(delivery)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Tandem-Event": delivery.event,
        "X-Tandem-Delivery": str(delivery.event_id),
        "X-Tandem-Timestamp": timestamp,
        "X-Tandem-Signature": webhook_signature(
            secret=webhook.secret, timestamp=timestamp, body=body
        ),
    }
    try:
        target = target_resolve(webhook.url, allow_private=webhook.allow_private_targets)
    except UnsafeTarget as exc:
        # A refused target does not get better by retrying.
        delivery.status = DeliveryStatus.FAILED
        delivery.error = f"Refused: {exc}"
        delivery.save(update_fields=fields)
        return "refused"
    code = None
    try:
        code = webhook_post(
            target=target, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
        )
        error = "" if 200 <= code < 300 else f"HTTP {code}"
    except (OSError, TimeoutError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    delivery.response_code = code
    delivery.error = error[:2000]
    if not error:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.save(update_fields=[*fields, "delivered_at"])
        return "delivered"
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        delivery.save(update_fields=fields)
        return "failed"
    delay = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (delivery.attempts - 1)
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    delivery.save(update_fields=fields)
    deliver_webhook_task.apply_async(args=[delivery.pk], countdown=delay)
    return "retry"


@shared_task(name="api.sweep_webhooks", soft_time_limit=60)
def sweep_webhooks_task(**kwargs: object) -> int:
    """Enqueue pending deliveries that are due (their on-commit enqueue may have been lost)."""
    due = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    for delivery_id in due:
        deliver_webhook_task.delay(delivery_id)
    return len(due)


IDEMPOTENCY_KEY_DAYS = 2  # clients retry within minutes; two days covers long outages


@shared_task(name="api.purge_idempotency_keys", soft_time_limit=120)
def purge_idempotency_keys_task(**kwargs: object) -> int:
    """Forget idempotency keys older than IDEMPOTENCY_KEY_DAYS."""
    from .models import IdempotencyKey

    cutoff = timezone.now() - timedelta(days=IDEMPOTENCY_KEY_DAYS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
