"""Celery beat schedules, in one place; each entry says why its interval.

django-celery-beat's DatabaseScheduler copies these into the database at start-up, where an
admin can change them.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
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
}
