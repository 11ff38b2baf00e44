"""Celery beat schedules, in one place; each entry says why its interval.

django-celery-beat's DatabaseScheduler copies these into the database at start-up, where an
admin can change them.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

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
    # Certainty behind the prompt on-commit task: any account still dirty (Redis was down,
    # a task was lost) is recomputed within about a minute.
    "accounts-sweep-dirty-metrics": {
        "task": "accounts.sweep_dirty_metrics",
        "schedule": 60.0,
    },
    # Window edges move with time even without changes (tickets age out of 90 days,
    # revenue days roll over): rebuild every account nightly, in chunks across workers,
    # at a quiet hour; it also writes each account's daily snapshot for trends.
    "accounts-recompute-all-metrics": {
        "task": "accounts.recompute_all_metrics",
        "schedule": crontab(hour=2, minute=15),
    },
    # NPS is a relationship survey: a daily batch in office hours is plenty; the
    # per-contact interval (SurveySettings, admin) decides who is due.
    "accounts-send-nps-surveys": {
        "task": "accounts.send_nps_surveys",
        "schedule": crontab(hour=10, minute=0),
    },
    # SLA targets are minutes to hours; a minute's lag on a breach flag is well inside
    # what anyone notices, and the sweep only reads a partial set of due tickets.
    "inbox-sla-sweep": {"task": "inbox.sla_sweep", "schedule": 60.0},
}
