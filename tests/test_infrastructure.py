"""The suite runs on the real parts: PostgreSQL, Redis and a Celery worker process."""

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import AccountMetrics
from tests.accounts.factories import AccountFactory, RevenueEventFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_database_is_postgresql():
    assert connection.vendor == "postgresql", "run the suite through scripts/test.sh"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        assert int(cursor.fetchone()[0]) >= 150000


@pytest.mark.django_db
def test_ticket_search_index_and_number_sequence_exist():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'inbox_ticket_search_gin'"
        )
        assert "USING gin" in cursor.fetchone()[0]
        cursor.execute("SELECT nextval('inbox_ticket_number_seq')")
        assert cursor.fetchone()[0] >= 1


@pytest.mark.celery_worker
def test_celery_round_trip_through_real_worker_and_redis(celery_worker):
    from config.celery import app

    assert os.environ["REDIS_URL"].startswith("redis://")
    assert app.send_task("tandem.ping", args=["hello"]).get(timeout=20) == "hello"


@pytest.mark.celery_worker
def test_worker_recomputes_an_account_written_by_the_test(celery_worker):
    from accounts.tasks import recompute_metrics_task

    account = AccountFactory()
    RevenueEventFactory(account=account, mrr_delta=Decimal("250.00"))
    recompute_metrics_task.delay([account.pk]).get(timeout=30)
    metrics = AccountMetrics.objects.get(account=account)
    assert metrics.mrr == Decimal("250.00")
    assert metrics.computed_at is not None


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": "x7$k2!qz" * 8,
        "ALLOWED_HOSTS": "help.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6399/0",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
