"""Task hygiene and beat entries for metrics (SECURITY.md "Celery")."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts import services
from accounts.tasks import recompute_metrics_task
from config.beat import BEAT_SCHEDULE
from config.celery import app


def test_beat_sweeps_every_minute_and_recomputes_all_nightly():
    tasks = {entry["task"]: entry["schedule"] for entry in BEAT_SCHEDULE.values()}
    assert tasks["accounts.sweep_dirty_metrics"] == 60.0
    nightly = tasks["accounts.recompute_all_metrics"]
    assert nightly.hour == {2}
    assert nightly.minute == {15}
    assert "accounts.send_nps_surveys" in tasks
    app.loader.import_default_modules()  # what a worker does at start: autodiscover every app
    for name in tasks:
        assert name in app.tasks, name


def test_recompute_task_survives_a_killed_worker_and_coalescing_stays_under_visibility():
    assert recompute_metrics_task.acks_late is True
    assert recompute_metrics_task.reject_on_worker_lost is True
    assert recompute_metrics_task.soft_time_limit
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    # No countdown longer than the broker's visibility timeout (celery #2481).
    assert visibility > services.RECOMPUTE_COALESCE_SECONDS
    assert visibility > services.RECOMPUTE_KEY_TTL_SECONDS


@pytest.mark.django_db
def test_sweep_queues_every_dirty_account(account):
    from accounts.models import Account, AccountMetrics
    from accounts.tasks import sweep_dirty_metrics_task

    others = [type(account).objects.create(name=f"Dirty {n}") for n in range(3)]
    Account.objects.update(metrics_dirty_at=None)
    Account.objects.filter(pk__in=[a.pk for a in others]).update(
        metrics_dirty_at="2026-01-01T00:00:00Z"
    )
    sweep_dirty_metrics_task.delay()  # eager in tests: the chunk tasks run inline
    assert not Account.objects.filter(metrics_dirty_at__isnull=False).exists()
    assert set(AccountMetrics.objects.values_list("account_id", flat=True)) == {
        a.pk for a in others
    }
