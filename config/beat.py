"""Celery beat schedules, in one place; each entry says why its interval.

django-celery-beat's DatabaseScheduler copies these into the database at start-up, where an
admin can change them.
"""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Time-based automation rules count in hours; five minutes is prompt enough and cheap.
    "automations-time-sweep": {"task": "automations.time_sweep", "schedule": 300.0},
    # Digests go out once a user's oldest pending notification is NOTIFICATION_DIGEST_MINUTES
    # old; sweeping every 2 minutes keeps a digest within a few minutes of that, and also
    # delivers immediate mails whose enqueue was lost (Redis down).
    "notes-deliver-notifications": {
        "task": "notes.deliver_notifications",
        "schedule": 120.0,
    },
    # Overdue handoffs are measured in hours; a quarter-hour check is precise enough.
    "notes-handoff-overdue": {
        "task": "notes.handoff_overdue",
        "schedule": 900.0,
    },
    # Customers expect mail to show up within a minute; IMAP IDLE is not worth a process.
    "mail-poll-mailboxes": {"task": "mail.poll_mailboxes", "schedule": 60.0},
    # The outbox is the truth: re-send due rows whose task was lost (Redis down, crash).
    "mail-sweep-outbound": {"task": "mail.sweep_outbound", "schedule": 60.0},
    # Raw mail stored but never parsed (crash between the two steps): rare, so 5 minutes.
    "mail-sweep-inbound": {"task": "mail.sweep_inbound", "schedule": 300.0},
    # Webhook outbox: deliveries whose on-commit enqueue was lost (Redis down) go out within
    # a minute; retries are scheduled by the task itself.
    "api-sweep-webhooks": {"task": "api.sweep_webhooks", "schedule": 60.0},
    # Idempotency keys only need to outlive client retries.
    "api-purge-idempotency-keys": {"task": "api.purge_idempotency_keys", "schedule": 3600.0},
}
