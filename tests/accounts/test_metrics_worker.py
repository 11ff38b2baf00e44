"""Recomputation through a real Celery worker and real Redis (invariant 3).

- a reply reaches the account's metrics within seconds;
- a burst of changes coalesces into a handful of recomputes;
- with Redis stopped, changes still commit, and the sweep catches up once it is back;
- a worker killed mid-recompute leaves no partial row, and the task runs again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction

from accounts.models import Account, AccountMetrics, MetricSnapshot
from accounts.services import metrics_mark_dirty
from accounts.tasks import recompute_metrics_task, sweep_dirty_metrics_task
from inbox import services as inbox
from tests.accounts.factories import AccountFactory, ContactFactory, RevenueEventFactory
from tests.conftest import ROOT, _database_url
from tests.inbox.factories import TicketFactory

pytestmark = [pytest.mark.celery_worker]


def wait_for(check: Callable[[], object], timeout: float = 30.0, step: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(step)


def recompute_runs(log: Path) -> int:
    """Recomputes the worker finished: one "succeeded" line each.

    (Each run also logs a "received" line: counting every mention of the task counted
    each run twice.)
    """
    return len(re.findall(r"Task accounts\.recompute_metrics\[[^\]]+\] succeeded", log.read_text()))


def test_a_reply_updates_the_account_metrics_within_seconds(celery_worker, agent, tmp_path):
    account = AccountFactory(name="Globex")
    contact = ContactFactory(account=account)
    ticket = inbox.ticket_create(
        requester=contact, subject="Down", content=inbox.InboundContent(body_text="help")
    )
    wait_for(lambda: AccountMetrics.objects.filter(account=account, tickets_created=1).exists())
    assert AccountMetrics.objects.get(account=account).first_response_seconds_median is None

    started = time.monotonic()
    inbox.reply_create(ticket=ticket, author=agent, body_text="Fixed it")
    metrics = wait_for(
        lambda: AccountMetrics.objects.filter(
            account=account, first_response_seconds_median__isnull=False
        ).first(),
        timeout=15,
    )
    assert time.monotonic() - started < 15
    assert metrics.first_response_seconds_median > 0
    account.refresh_from_db()
    assert account.metrics_dirty_at is None


def test_a_burst_of_1000_changes_makes_a_handful_of_recomputes(celery_worker, tmp_path):
    account = AccountFactory()
    log = tmp_path / "worker.log"
    before = recompute_runs(log)
    started = time.monotonic()
    for _ in range(1000):
        with transaction.atomic():
            metrics_mark_dirty(account_id=account.pk)
    sent_in = time.monotonic() - started
    last_mark = Account.objects.get(pk=account.pk).metrics_dirty_at
    wait_for(lambda: Account.objects.filter(pk=account.pk, metrics_dirty_at=None).exists())
    current_after = time.monotonic() - started
    metrics = AccountMetrics.objects.get(account=account)
    assert metrics.computed_at >= last_mark  # computed after the last change
    time.sleep(3)  # let any straggler run before counting
    runs = recompute_runs(log) - before
    print(
        f"burst: 1000 events in {sent_in:.2f}s -> {runs} recomputes, current after "
        f"{current_after:.2f}s"
    )
    assert 1 <= runs <= 5


def _redis(port: str, directory: str) -> None:
    subprocess.run(
        [
            "redis-server",
            "--port",
            port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--pidfile",
            f"{directory}/redis.pid",
            "--logfile",
            f"{directory}/redis.log",
            "--dir",
            directory,
        ],
        check=True,
    )
    wait_for(
        lambda: (
            subprocess.run(
                ["redis-cli", "-p", port, "ping"], capture_output=True, check=False
            ).stdout.strip()
            == b"PONG"
        ),
        timeout=10,
    )


def test_with_redis_down_changes_commit_and_the_sweep_catches_up(celery_worker, agent):
    port = os.environ.get("TANDEM_REDIS_PORT")
    directory = os.environ.get("TANDEM_SERVICES_DIR")
    if not port or not directory:
        pytest.fail("needs the services env (TANDEM_REDIS_PORT, TANDEM_SERVICES_DIR)")
    accounts = [AccountFactory() for _ in range(3)]
    contacts = [ContactFactory(account=a) for a in accounts]
    subprocess.run(["redis-cli", "-p", port, "shutdown", "nosave"], check=False)
    try:
        wait_for(
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", port, "ping"], capture_output=True, check=False
                ).returncode
                != 0
            ),
            timeout=10,
        )
        for contact in contacts:
            ticket = inbox.ticket_create(
                requester=contact, subject="Outage", content=inbox.InboundContent(body_text="?")
            )
            inbox.reply_create(ticket=ticket, author=agent, body_text="Looking")
        # Committed, and flagged for the sweep even though nothing reached Celery.
        assert (
            Account.objects.filter(
                pk__in=[a.pk for a in accounts], metrics_dirty_at__isnull=False
            ).count()
            == 3
        )
        assert not AccountMetrics.objects.filter(account__in=accounts).exists()
    finally:
        _redis(port, directory)
    # What beat does every minute: once the worker has reconnected, the sweep delivers.
    sweep_dirty_metrics_task.delay()
    wait_for(
        lambda: (
            Account.objects.filter(
                pk__in=[a.pk for a in accounts], metrics_dirty_at__isnull=True
            ).count()
            == 3
        ),
        timeout=60,
    )
    for account in accounts:
        metrics = AccountMetrics.objects.get(account=account)
        assert metrics.tickets_created == 1
        assert metrics.first_response_seconds_median is not None


@pytest.fixture
def prefork_worker(transactional_db, tmp_path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """A worker with a child process to kill (the solo pool has none)."""
    from config.celery import app

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "CONN_MAX_AGE": "0",
    }
    log_path = tmp_path / "prefork.log"
    log = log_path.open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--queues=default,metrics",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            f"--hostname=kill-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app.conf.task_always_eager = False
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if app.send_task("tandem.ping", args=["ready"]).get(timeout=2) == "ready":
                    break
            except Exception:
                if worker.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"worker did not start: {log_path.read_text()}")
        yield worker, log_path
    finally:
        app.conf.task_always_eager = True
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(part) for part in text.split()]


def test_a_worker_killed_mid_recompute_leaves_no_partial_row_and_the_task_reruns(
    prefork_worker,
):
    worker, log_path = prefork_worker
    account = AccountFactory()
    contact = ContactFactory(account=account)
    TicketFactory.create_batch(3, requester=contact, account=account, status="open")
    RevenueEventFactory(account=account, mrr_delta=Decimal("75.00"))
    settings_dict = connection.settings_dict
    blocker = psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        user=settings_dict["USER"],
        dbname=settings_dict["NAME"],
    )
    try:
        # Hold the account row (not its key, so inserting rows that reference it goes on):
        # the recompute writes its metric rows, then waits here to update the account's
        # MRR and dirty flag inside the same transaction.
        blocker.execute(
            "SELECT id FROM accounts_account WHERE id = %s FOR NO KEY UPDATE", [account.pk]
        )
        task_id = recompute_metrics_task.delay([account.pk]).id

        def waiting_backend():
            # Activity is snapshotted per transaction: clear it to see the current state.
            blocker.execute("SELECT pg_stat_clear_snapshot()")
            return blocker.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'UPDATE \"accounts_account\"%%'"
            ).fetchone()

        wait_for(waiting_backend, timeout=30)
        victims = _children(worker.pid)
        assert len(victims) == 1
        os.kill(victims[0], signal.SIGKILL)
        wait_for(lambda: "exited prematurely" in log_path.read_text(), timeout=30)
        # The killed run's writes were never committed: no metrics row is visible.
        assert not AccountMetrics.objects.filter(account=account).exists()
        assert not MetricSnapshot.objects.filter(account=account).exists()
    finally:
        blocker.rollback()  # release the row; the dead run aborts, the redelivered one runs
        blocker.close()
    metrics = wait_for(lambda: AccountMetrics.objects.filter(account=account).first(), timeout=60)
    assert metrics.backlog == 3
    assert metrics.mrr == Decimal("75.00")
    assert MetricSnapshot.objects.filter(account=account).count() == 1
    account.refresh_from_db()
    assert account.mrr == Decimal("75.00")
    log = log_path.read_text()
    # The same task, redelivered after the kill (acks_late + reject_on_worker_lost).
    assert log.count(f"recompute_metrics[{task_id}] received") == 2
    assert log.count(f"recompute_metrics[{task_id}] succeeded") == 1
