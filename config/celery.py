"""Celery application: JSON only, acks late, routes per queue (see settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tandem")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="tandem.ping")
def ping(value: str = "pong", **kwargs: object) -> str:
    """Answer `value`: used by health checks and the worker round-trip test."""
    return value
