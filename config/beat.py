"""Celery beat schedules, in one place; each entry says why its interval.

django-celery-beat's DatabaseScheduler copies these into the database at start-up, where an
admin can change them.
"""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Time-based automation rules count in hours; five minutes is prompt enough and cheap.
    "automations-time-sweep": {"task": "automations.time_sweep", "schedule": 300.0},
}
