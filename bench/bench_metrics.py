"""Benchmark account metrics on PostgreSQL (not run by the test suite).

    source /tmp/tandem-NAME.env   # a THROWAWAY database: this script fills it
    python manage.py migrate
    python bench/bench_metrics.py --accounts 10000 --tickets 1000000 --workers 1 2

Measures:
  1. data generation (set-based INSERT ... SELECT generate_series);
  2. a full recompute in this process (chunks of 500 accounts, one after another);
  3. a full recompute fanned out through Celery (accounts.recompute_all_metrics) with 1 and
     2 worker processes, until every account's row is newer than the start;
  4. single-account recompute latency (median and p95 of 50 runs);
  5. a burst: 1,000 changes to one account in separate transactions, how many recomputes
     the worker ran, and how long until the account was current.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "0")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from accounts.metrics import recompute_accounts  # noqa: E402
from accounts.models import Account, AccountMetrics  # noqa: E402
from accounts.services import metrics_mark_dirty  # noqa: E402


def sql(statement: str, params: list | None = None) -> None:
    # Always with a parameter list, so every literal % is written %% alike.
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


@transaction.atomic
def generate(accounts: int, tickets: int) -> float:
    started = time.monotonic()
    if Account.objects.filter(name__startswith="Bench ").exists():
        print("bench data present: reusing it")
        return 0.0
    sql(
        """
        INSERT INTO accounts_account (name, plan, mrr, lifecycle, notes, created_at, updated_at)
        SELECT 'Bench ' || g, (ARRAY['basic', 'pro', 'enterprise'])[1 + g %% 3], 0, 'active',
            '', now(), now()
        FROM generate_series(1, %s) g
        """,
        [accounts],
    )
    sql(
        """
        INSERT INTO accounts_contact (email, name, phone, account_id, created_at, updated_at)
        SELECT 'c' || a.id || '@bench.example', 'Contact ' || a.id, '', a.id, now(), now()
        FROM accounts_account a WHERE a.name LIKE 'Bench %%'
        """
    )
    # Tickets: spread over 200 days; most answered within hours, about 60 % solved.
    sql(
        """
        INSERT INTO inbox_ticket (number, subject, status, priority, channel, requester_id,
            account_id, created_at, updated_at, first_response_at, solved_at, reopen_count,
            public_reply_count, sla_first_response_breached, sla_next_response_breached,
            sla_resolution_breached, is_unparsed, version)
        SELECT 5000000 + g, 'Bench ticket ' || g, s.status, 'normal', 'email', c.id, c.account_id,
            t.created, t.created, t.created + (random() * interval '10 hours'),
            CASE WHEN s.status IN ('solved', 'closed')
                THEN t.created + (random() * interval '5 days') END,
            (g %% 7 = 0)::int, 1 + g %% 3, false, false, false, false, 0
        FROM generate_series(1, %s) g
        -- "+ g * 0" makes each lateral row depend on g, so random() is drawn per ticket.
        JOIN LATERAL (SELECT now() - (random() + g * 0) * interval '200 days' AS created) t
            ON true
        JOIN LATERAL (SELECT (ARRAY['solved', 'closed', 'solved', 'open', 'pending'])
            [1 + floor(random() * 5 + g * 0)::int] AS status) s ON true
        JOIN accounts_contact c ON c.email = 'c' || (
            SELECT min(id) FROM accounts_account WHERE name LIKE 'Bench %%') + g %% %s
            || '@bench.example'
        """,
        [tickets, accounts],
    )
    sql(
        """
        INSERT INTO accounts_revenueevent (kind, mrr_delta, occurred_on, note, account_id,
            created_at, updated_at)
        SELECT 'new', 50 + (a.id %% 20) * 25, current_date - 400 + (a.id %% 300)::int, '', a.id,
            now(), now() FROM accounts_account a WHERE a.name LIKE 'Bench %%'
        UNION ALL
        SELECT 'expansion', 40, current_date - (a.id %% 200)::int, '', a.id, now(), now()
        FROM accounts_account a WHERE a.name LIKE 'Bench %%' AND a.id %% 4 = 0
        UNION ALL
        SELECT 'churn', -(50 + (a.id %% 20) * 25), current_date - (a.id %% 90)::int, '', a.id,
            now(), now() FROM accounts_account a WHERE a.name LIKE 'Bench %%' AND a.id %% 17 = 0
        """
    )
    sql(
        """
        INSERT INTO accounts_surveyresponse (kind, score, comment, contact_id, account_id,
            responded_at, source, created_at, updated_at)
        SELECT k.kind, CASE k.kind WHEN 'csat' THEN 1 + (c.id + g) %% 5
            WHEN 'ces' THEN 1 + (c.id + g) %% 7 ELSE (c.id + g) %% 11 END,
            '', c.id, c.account_id, now() - ((c.id + g) %% 120) * interval '1 day', 'import',
            now(), now()
        FROM accounts_contact c
        CROSS JOIN generate_series(1, 3) g
        JOIN LATERAL (SELECT (ARRAY['csat', 'ces', 'nps'])[g] AS kind) k ON true
        WHERE c.email LIKE '%%@bench.example'
        """
    )
    return time.monotonic() - started


def bench_ids() -> list[int]:
    return list(
        Account.objects.filter(name__startswith="Bench ")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def full_in_process(ids: list[int], chunk: int = 500) -> float:
    started = time.monotonic()
    for start in range(0, len(ids), chunk):
        recompute_accounts(account_ids=ids[start : start + chunk])
    return time.monotonic() - started


def start_worker(concurrency: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0", "CONN_MAX_AGE": "0"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--queues=metrics,default",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            f"--hostname=bench{concurrency}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def wait_ready() -> None:
    from config.celery import app

    app.conf.task_always_eager = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if app.send_task("tandem.ping", args=["ok"]).get(timeout=2) == "ok":
                return
        except Exception:  # noqa: S110 - still starting
            pass
    raise SystemExit("worker did not start")


def stop(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


def full_through_celery(ids: list[int], concurrency: int, workdir: Path) -> float:
    from django.utils import timezone

    from accounts.tasks import recompute_all_metrics_task

    worker = start_worker(concurrency, workdir / f"worker{concurrency}.log")
    try:
        wait_ready()
        marker = timezone.now()
        started = time.monotonic()
        recompute_all_metrics_task.delay()
        while AccountMetrics.objects.filter(
            account_id__in=ids, computed_at__gte=marker
        ).count() < len(ids):
            time.sleep(0.5)
        return time.monotonic() - started
    finally:
        stop(worker)


def single_account(ids: list[int], runs: int = 50) -> tuple[float, float]:
    timings = []
    for index in range(runs):
        started = time.perf_counter()
        recompute_accounts(account_ids=[ids[(index * 97) % len(ids)]])
        timings.append(time.perf_counter() - started)
    timings.sort()
    return statistics.median(timings), timings[int(0.95 * (len(timings) - 1))]


def burst(account_id: int, events: int, workdir: Path) -> tuple[float, int, float]:
    log = workdir / "burst.log"
    worker = start_worker(1, log)
    try:
        wait_ready()
        started = time.monotonic()
        for _ in range(events):
            with transaction.atomic():
                metrics_mark_dirty(account_id=account_id)
        sent_in = time.monotonic() - started
        while Account.objects.filter(pk=account_id, metrics_dirty_at__isnull=False).exists():
            time.sleep(0.05)
        current_after = time.monotonic() - started
        time.sleep(3)
        runs = len(re.findall(r"recompute_metrics\[[^\]]+\] succeeded", log.read_text()))
        return sent_in, runs, current_after
    finally:
        stop(worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("the benchmark is for PostgreSQL (set DATABASE_URL)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    print(f"generating {args.accounts} accounts and {args.tickets} tickets ...", flush=True)
    print(f"  generated in {generate(args.accounts, args.tickets):.1f}s")
    sql("ANALYZE")
    ids = bench_ids()
    print(f"full recompute in-process ({len(ids)} accounts): {full_in_process(ids):.1f}s")
    for concurrency in args.workers:
        elapsed = full_through_celery(ids, concurrency, workdir)
        print(f"full recompute via Celery, {concurrency} worker process(es): {elapsed:.1f}s")
    median, p95 = single_account(ids)
    print(f"single-account recompute: median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    sent_in, runs, current_after = burst(ids[0], args.burst, workdir)
    print(
        f"burst: {args.burst} changes in {sent_in:.2f}s -> {runs} recompute(s); "
        f"current {current_after:.2f}s after the first change"
    )


if __name__ == "__main__":
    main()
