"""Celery beat schedules, in one place; each entry says why its interval.

django-celery-beat's DatabaseScheduler copies these into the database at start-up, where an
admin can change them.
"""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Webhook outbox: deliveries whose on-commit enqueue was lost (Redis down) go out within
    # a minute; retries are scheduled by the task itself.
    "api-sweep-webhooks": {"task": "api.sweep_webhooks", "schedule": 60.0},
    # Idempotency keys only need to outlive client retries.
    "api-purge-idempotency-keys": {"task": "api.purge_idempotency_keys", "schedule": 3600.0},
}
