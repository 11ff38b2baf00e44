"""Celery beat schedules, in one place; each entry says why its interval.

django-celery-beat's DatabaseScheduler copies these into the database at start-up, where an
admin can change them.
"""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # SLA targets are minutes to hours; a minute's lag on a breach flag is well inside
    # what anyone notices, and the sweep only reads a partial set of due tickets.
    "inbox-sla-sweep": {"task": "inbox.sla_sweep", "schedule": 60.0},
}
