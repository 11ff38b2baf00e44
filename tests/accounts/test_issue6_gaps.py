"""Issue 6 acceptance points the other metric tests did not demonstrate.

- the nightly full recompute fans out in chunks, spread over workers, and leaves every
  account current (real worker, real Redis);
- the recompute costs the same number of queries for 5 tickets as for 50, and for a chunk
  of 5 accounts as for 50 (set-based SQL, no loop over rows);
- every change that affects an account marks it dirty in its own transaction and, on
  commit, recomputes it: ticket created / replied / solved / reopened / merged, handoffs,
  survey responses, revenue events;
- the account page's trend charts are drawn from the stored snapshots;
- the health bands at their edges (70 and 40), and admin-edited weights re-scoring;
- the worker-log recompute counter used by the burst test counts each run once.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from celery.signals import before_task_publish
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.metrics import recompute_accounts
from accounts.metrics.health import health_compute
from accounts.models import Account, AccountMetrics, HealthScoreConfig, MetricSnapshot
from accounts.services import (
    coalesce_key,
    revenue_event_create,
    survey_response_create,
)
from accounts.tasks import recompute_all_metrics_task, recompute_metrics_task
from inbox import services as inbox
from inbox.models import Status, Ticket
from notes.services import handoff_accept, handoff_create
from tests.accounts.factories import AccountFactory, ContactFactory
from tests.accounts.test_metrics_worker import recompute_runs, wait_for
from tests.conftest import ROOT, _database_url
from tests.inbox.factories import TicketFactory

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def _ticket(contact, *, at: dt.datetime | None = None) -> Ticket:
    return inbox.ticket_create(
        requester=contact,
        subject="Help",
        content=inbox.InboundContent(body_text="Please help"),
        created_at=at,
    )


def _solved_ticket(contact, agent, *, at: dt.datetime) -> Ticket:
    ticket = _ticket(contact, at=at)
    inbox.reply_create(ticket=ticket, author=agent, body_text="Done", new_status="solved", at=at)
    return ticket


def _weights_only(**weights: float) -> HealthScoreConfig:
    """Set every weight to 0 except those given (isolates components for exact scores)."""
    config = HealthScoreConfig.load()
    for name in ("csat", "nps", "ces", "first_response", "backlog", "escalations", "nrr"):
        setattr(config, f"weight_{name}", weights.get(name, 0))
    config.save()
    return config


# --- nightly full recompute: chunks, workers, everything current ------------------------------


def _start_worker(tmp_path, name: str) -> tuple[subprocess.Popen, object]:
    """A second real worker on the metrics queue (the `celery_worker` fixture is the first)."""
    log = (tmp_path / f"{name}.log").open("w")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "CONN_MAX_AGE": "0",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--queues=metrics",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            f"--hostname={name}-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return worker, log


def _stop_worker(worker: subprocess.Popen, log) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
    log.close()


@pytest.mark.celery_worker
def test_nightly_full_recompute_runs_in_chunks_over_workers_and_every_account_ends_current(
    celery_worker, tmp_path
):
    long_ago = timezone.now() - 3 * DAY
    accounts = [AccountFactory() for _ in range(9)]
    for index, account in enumerate(accounts):
        contact = ContactFactory(account=account)
        # Plain rows: a service would queue its own recompute on commit (autocommit here).
        TicketFactory.create_batch(index % 3, requester=contact, account=account)
    # Six accounts were last computed three days ago (stale), three never; one is dirty.
    recompute_accounts(account_ids=[a.pk for a in accounts[:6]], now=long_ago)
    Account.objects.update(metrics_dirty_at=None)
    Account.objects.filter(pk=accounts[0].pk).update(metrics_dirty_at=long_ago)
    assert AccountMetrics.objects.filter(computed_at__gte=long_ago + DAY).count() == 0

    second, second_log = _start_worker(tmp_path, "second")
    try:
        wait_for(lambda: "ready" in (tmp_path / "second.log").read_text(), timeout=30)
        published: list[list[int]] = []

        def capture(sender=None, body=None, **kwargs):
            if sender == "accounts.recompute_metrics":
                published.append(body[0][0])  # protocol 2: (args, kwargs, embed)

        before_task_publish.connect(capture, weak=False)
        started = timezone.now()
        try:
            # What beat runs at 02:15, here with chunks of 2 so 9 accounts make 5 tasks.
            recompute_all_metrics_task(chunk_size=2)
        finally:
            before_task_publish.disconnect(capture)
        ids = sorted(a.pk for a in accounts)
        assert published == [ids[0:2], ids[2:4], ids[4:6], ids[6:8], ids[8:9]]

        def all_current() -> bool:
            return AccountMetrics.objects.filter(
                account__in=accounts, computed_at__gte=started
            ).count() == len(accounts)

        wait_for(all_current, timeout=60)
    finally:
        _stop_worker(second, second_log)
    today = timezone.localdate()
    for index, account in enumerate(accounts):
        metrics = AccountMetrics.objects.get(account=account)
        assert metrics.backlog == index % 3
        # The tickets are younger than the stale computation: only a fresh one counts them.
        assert metrics.tickets_created == index % 3
        assert MetricSnapshot.objects.filter(account=account, date=today).exists()
    assert not Account.objects.filter(metrics_dirty_at__isnull=False).exists()
    # Each chunk ran once, and both workers took chunks: the job is spread over workers.
    first_runs = recompute_runs(tmp_path / "worker.log")
    second_runs = recompute_runs(tmp_path / "second.log")
    assert first_runs + second_runs == 5
    assert first_runs >= 1
    assert second_runs >= 1


@pytest.mark.celery_worker
def test_the_recompute_counter_counts_each_run_once(celery_worker, tmp_path):
    """The burst test's `recompute_runs` reads the worker log: one run must count as one."""
    account = AccountFactory()
    log = tmp_path / "worker.log"
    before = recompute_runs(log)
    results = [recompute_metrics_task.delay([account.pk]) for _ in range(3)]
    for result in results:
        result.get(timeout=30)
    wait_for(lambda: log.read_text().count("recompute_metrics[") >= 6, timeout=10)
    assert recompute_runs(log) - before == 3
    # And every one of the three task ids appears exactly once as a finished run.
    text = log.read_text()
    for result in results:
        assert len(re.findall(rf"recompute_metrics\[{result.id}\] succeeded", text)) == 1


# --- set-based recompute: flat query counts ----------------------------------------------------


def _account_with(count: int, agent) -> Account:
    """An account with `count` solved tickets, CSAT answers and revenue events."""
    account = AccountFactory(plan="pro")
    contact = ContactFactory(account=account)
    now = timezone.now()
    for n in range(count):
        ticket = _solved_ticket(contact, agent, at=now - (n + 1) * HOUR)
        survey_response_create(
            kind="csat", score=5, contact=contact, ticket_id=ticket.pk, responded_at=now
        )
        revenue_event_create(
            account=account,
            kind="new" if n == 0 else "expansion",
            mrr_delta=Decimal("10"),
            occurred_on=timezone.localdate() - dt.timedelta(days=count - n),
        )
    return account


@pytest.mark.django_db
def test_recompute_query_count_is_the_same_for_5_tickets_as_for_50(
    agent, django_assert_num_queries
):
    few = _account_with(5, agent)
    many = _account_with(50, agent)
    HealthScoreConfig.load()  # the singleton exists (its first load creates it)
    # Savepoint, lock timeout, advisory lock, account rows, 6 grouped input reads, config,
    # previous bands, 2 upserts (live row, snapshot), MRR denormalised, flag cleared, release.
    with django_assert_num_queries(17):
        recompute_accounts(account_ids=[few.pk])
    with django_assert_num_queries(17):
        recompute_accounts(account_ids=[many.pk])
    # The counts were read, not skipped.
    assert AccountMetrics.objects.get(account=few).tickets_created == 5
    assert AccountMetrics.objects.get(account=many).tickets_created == 50
    assert AccountMetrics.objects.get(account=many).mrr == Decimal("500.00")
    assert AccountMetrics.objects.get(account=many).csat_percent == pytest.approx(100.0)


@pytest.mark.django_db
def test_recompute_query_count_is_the_same_for_a_chunk_of_5_accounts_as_of_50(
    agent, django_assert_num_queries
):
    def make(count: int) -> list[int]:
        ids = []
        for _ in range(count):
            account = AccountFactory(plan="pro")
            _solved_ticket(ContactFactory(account=account), agent, at=timezone.now() - HOUR)
            ids.append(account.pk)
        return ids

    five, fifty = make(5), make(50)
    HealthScoreConfig.load()
    # As for one account, less the MRR update (no revenue: every MRR stays 0).
    with django_assert_num_queries(16):
        assert recompute_accounts(account_ids=five) == 5
    with django_assert_num_queries(16):
        assert recompute_accounts(account_ids=fifty) == 50
    assert (
        AccountMetrics.objects.filter(account_id__in=five + fifty, tickets_created=1).count() == 55
    )


# --- every change marks the account dirty and recomputes on commit -----------------------------


@pytest.fixture
def clean_account(account, contact):
    """The account computed once and clean, with no coalescing key left in Redis."""
    recompute_accounts(account_ids=[account.pk])
    Account.objects.filter(pk=account.pk).update(metrics_dirty_at=None)
    cache.delete(coalesce_key(account.pk))
    return account


def _commit_and_check(account, django_capture_on_commit_callbacks, change) -> AccountMetrics:
    """Run `change`; the flag is set before commit, and the on-commit task recomputes."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        change()
        # Same transaction: flagged before anything reaches Celery.
        assert Account.objects.get(pk=account.pk).metrics_dirty_at is not None
    assert callbacks, "nothing was asked of Celery on commit"
    account.refresh_from_db()
    assert account.metrics_dirty_at is None  # the eager task ran and cleared it
    return AccountMetrics.objects.get(account=account)


@pytest.mark.django_db
def test_a_change_rolled_back_leaves_the_account_clean_and_queues_nothing(
    clean_account, contact, django_capture_on_commit_callbacks
):
    @transaction.atomic
    def failing_request() -> None:
        _ticket(contact)
        raise RuntimeError("the request failed")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        failing_request()
    assert callbacks == []
    clean_account.refresh_from_db()
    assert clean_account.metrics_dirty_at is None
    assert AccountMetrics.objects.get(account=clean_account).tickets_created == 0


@pytest.mark.django_db
def test_created_replied_solved_and_reopened_tickets_recompute_on_commit(
    clean_account, contact, agent, django_capture_on_commit_callbacks
):
    account = clean_account
    holder: dict[str, Ticket] = {}

    def create():
        holder["ticket"] = _ticket(contact, at=timezone.now() - 2 * HOUR)

    metrics = _commit_and_check(account, django_capture_on_commit_callbacks, create)
    assert (metrics.tickets_created, metrics.backlog) == (1, 1)
    assert metrics.first_response_seconds_median is None

    ticket = holder["ticket"]
    metrics = _commit_and_check(
        account,
        django_capture_on_commit_callbacks,
        lambda: inbox.reply_create(
            ticket=ticket, author=agent, body_text="Looking", at=timezone.now() - HOUR
        ),
    )
    assert metrics.first_response_seconds_median == pytest.approx(3600.0, abs=1)

    metrics = _commit_and_check(
        account,
        django_capture_on_commit_callbacks,
        lambda: inbox.ticket_set_status(ticket=ticket, actor=agent, status=Status.SOLVED),
    )
    assert (metrics.backlog, metrics.resolution_rate, metrics.first_contact_resolution_rate) == (
        0,
        1.0,
        1.0,
    )

    metrics = _commit_and_check(
        account,
        django_capture_on_commit_callbacks,
        lambda: inbox.message_add_inbound(
            ticket=ticket, contact=contact, content=inbox.InboundContent(body_text="Still broken")
        ),
    )
    assert (metrics.backlog, metrics.resolution_rate) == (1, 0.0)
    assert metrics.first_contact_resolution_rate is None  # no solved ticket left in the window


@pytest.mark.django_db
def test_a_merge_recomputes_both_accounts_on_commit(
    clean_account, contact, agent, django_capture_on_commit_callbacks
):
    other = AccountFactory(name="Umbrella")
    other_contact = ContactFactory(account=other)
    with django_capture_on_commit_callbacks(execute=True):
        source = _ticket(contact)
        target = _ticket(other_contact)
    assert AccountMetrics.objects.get(account=clean_account).backlog == 1
    assert AccountMetrics.objects.get(account=other).backlog == 1
    Account.objects.update(metrics_dirty_at=None)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        inbox.ticket_merge(source=source, target=target, actor=agent)
        dirty = set(
            Account.objects.filter(metrics_dirty_at__isnull=False).values_list("pk", flat=True)
        )
        assert dirty == {clean_account.pk, other.pk}
    # The source is closed by the merge: out of its account's backlog; the target stays.
    assert AccountMetrics.objects.get(account=clean_account).backlog == 0
    assert AccountMetrics.objects.get(account=other).backlog == 1
    assert not Account.objects.filter(metrics_dirty_at__isnull=False).exists()


@pytest.mark.django_db
def test_a_churn_risk_handoff_and_its_answer_recompute_the_health_on_commit(
    clean_account, contact, agent, success_manager, django_capture_on_commit_callbacks
):
    account = clean_account
    _weights_only(escalations=2)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = _ticket(contact)
    assert AccountMetrics.objects.get(account=account).health_score == pytest.approx(100.0)
    holder = {}

    def escalate():
        holder["handoff"] = handoff_create(
            ticket=ticket, from_user=agent, reason="churn_risk", note_markdown="They may leave"
        )

    metrics = _commit_and_check(account, django_capture_on_commit_callbacks, escalate)
    assert metrics.health_components["escalations"]["value"] == 0.0
    assert (metrics.health_score, metrics.health_band) == (0.0, "red")

    metrics = _commit_and_check(
        account,
        django_capture_on_commit_callbacks,
        lambda: handoff_accept(handoff=holder["handoff"], user=success_manager),
    )
    assert metrics.health_components["escalations"]["value"] == 100.0
    assert (metrics.health_score, metrics.health_band) == (100.0, "green")


@pytest.mark.django_db
def test_survey_and_revenue_inputs_recompute_on_commit(
    clean_account, contact, django_capture_on_commit_callbacks
):
    account = clean_account
    metrics = _commit_and_check(
        account,
        django_capture_on_commit_callbacks,
        lambda: survey_response_create(kind="nps", score=10, contact=contact),
    )
    assert metrics.nps == pytest.approx(100.0)
    metrics = _commit_and_check(
        account,
        django_capture_on_commit_callbacks,
        lambda: revenue_event_create(
            account=account,
            kind="new",
            mrr_delta=Decimal("250"),
            occurred_on=timezone.localdate() - DAY,
        ),
    )
    assert metrics.mrr == Decimal("250.00")
    account.refresh_from_db()
    assert account.mrr == Decimal("250.00")


# --- trend charts from stored snapshots --------------------------------------------------------


@pytest.mark.django_db
def test_account_page_draws_each_trend_from_the_stored_snapshots(
    client, admin_user, account, contact
):
    now = timezone.now()
    # Snapshots through the real recompute on four days; backlog 0, 1, 3, 2 by then.
    recompute_accounts(account_ids=[account.pk], now=now - 100 * DAY)  # outside the 90 days
    first = _ticket(contact)
    recompute_accounts(account_ids=[account.pk], now=now - 2 * DAY)
    _ticket(contact)
    _ticket(contact)
    recompute_accounts(account_ids=[account.pk], now=now - DAY)
    inbox.ticket_set_status(ticket=first, actor=None, status=Status.SOLVED)
    recompute_accounts(account_ids=[account.pk], now=now)
    assert list(
        MetricSnapshot.objects.filter(account=account).order_by("date").values_list("backlog")
    ) == [(0,), (1,), (3,), (2,)]

    client.force_login(admin_user)
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    card = re.search(r'data-metric="backlog">(.*?)</svg>', page, re.S).group(1)
    today = timezone.localdate()
    start = today - dt.timedelta(days=89)
    assert f"Backlog: 3 points from {start} to {today}" in card
    # 240 x 48, 3 px padding, over 89 days; y from backlog 1 (bottom) to 3 (top):
    # day -2 -> x 3 + 234 x 87/89 = 231.7, y 45; day -1 -> 234.4, y 3; today -> 237, y 24.
    assert 'points="231.7,45.0 234.4,3.0 237.0,24.0"' in card
    assert 'cx="237.0" cy="24.0"' in card  # the latest value is marked
    # A metric without input on any day draws an empty chart, not a line at zero.
    csat = re.search(r'data-metric="csat_percent">(.*?)</svg>', page, re.S).group(1)
    assert 'class="spark empty"' in csat
    assert "<polyline" not in csat


# --- health bands at their edges ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("csat", "band"),
    [
        (100.0, "green"),
        (70.0, "green"),  # green >= 70
        (69.9999, "yellow"),
        (40.0, "yellow"),  # yellow 40-69
        (39.9999, "red"),  # red < 40
        (0.0, "red"),
    ],
)
def test_band_edges_follow_the_design(csat, band):
    config = _weights_only(csat=2)
    health = health_compute({"csat_percent": csat}, has_churn_risk_handoff=False, config=config)
    assert (health.score, health.band) == (pytest.approx(csat), band)


@pytest.mark.django_db
@pytest.mark.parametrize(("open_tickets", "score", "band"), [(3, 70, "green"), (6, 40, "yellow")])
def test_a_recomputed_score_exactly_on_an_edge_takes_the_upper_band(
    account, contact, open_tickets, score, band
):
    _weights_only(backlog=1)  # backlog component: 100 - 10 x open tickets
    for _ in range(open_tickets):
        _ticket(contact)
    recompute_accounts(account_ids=[account.pk])
    metrics = AccountMetrics.objects.get(account=account)
    assert (metrics.health_score, metrics.health_band) == (score, band)
    _ticket(contact)  # one more open ticket: 10 points lower, the band below
    recompute_accounts(account_ids=[account.pk])
    metrics = AccountMetrics.objects.get(account=account)
    assert metrics.health_score == score - 10
    assert metrics.health_band == {"green": "yellow", "yellow": "red"}[band]


# --- admin-edited weights re-score every account ----------------------------------------------


@pytest.mark.django_db
def test_editing_weights_in_admin_rescores_every_account(
    client, admin_user, account, contact, django_capture_on_commit_callbacks
):
    other = AccountFactory(name="Globex")
    for _ in range(5):
        _ticket(contact)  # backlog 5 -> component 50
    recompute_accounts(account_ids=[account.pk, other.pk])
    # Defaults: (backlog 50 x 1 + escalations 100 x 2) / 3.
    assert AccountMetrics.objects.get(account=account).health_score == pytest.approx(250 / 3)
    config = HealthScoreConfig.load()
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    form = {
        "weight_csat": 2,
        "weight_nps": 2,
        "weight_ces": 1,
        "weight_first_response": 2,
        "weight_backlog": 3,
        "weight_escalations": 1,
        "weight_nrr": 2,
        "green_min": 90,
        "yellow_min": 60,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/accounts/healthscoreconfig/{config.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    metrics = AccountMetrics.objects.get(account=account)
    # (50 x 3 + 100 x 1) / 4 = 62.5, and with the new thresholds that is yellow.
    assert (metrics.health_score, metrics.health_band) == (62.5, "yellow")
    assert AccountMetrics.objects.get(account=other).health_band == "green"  # 100 >= 90
    assert not Account.objects.filter(metrics_dirty_at__isnull=False).exists()


# --- the ticket page's account panel ------------------------------------------------------------


@pytest.mark.django_db
def test_the_ticket_page_account_panel_shows_the_recomputed_band(
    client, agent, support_team, account, contact
):
    _weights_only(backlog=1)
    tickets = [
        inbox.ticket_create(
            requester=contact,
            subject=f"Outage {n}",
            content=inbox.InboundContent(body_text="down"),
            team=support_team,
        )
        for n in range(8)
    ]
    recompute_accounts(account_ids=[account.pk])  # backlog 8 -> 20: red
    client.force_login(agent)
    html = client.get(f"/tickets/{tickets[0].number}/").content.decode()
    assert 'class="health band-red"' in html
    assert "● Red 20" in html
    for ticket in tickets[1:]:
        inbox.ticket_set_status(ticket=ticket, actor=agent, status=Status.SOLVED)
    recompute_accounts(account_ids=[account.pk])  # backlog 1 -> 90: green
    html = client.get(f"/tickets/{tickets[0].number}/").content.decode()
    assert 'class="health band-green"' in html
    assert "● Green 90" in html
    assert "band-red" not in html
