"""Health score: components, weights, bands, the explanation and the red alert."""

from __future__ import annotations

import datetime as dt
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db_connection

from accounts.metrics import recompute_accounts
from accounts.metrics.health import health_compute, health_explain
from accounts.models import (
    AccountMetrics,
    HealthBandChange,
    HealthScoreConfig,
    Lifecycle,
    MetricSnapshot,
)
from inbox import services as inbox
from notes.models import HandoffStatus, Notification, NotificationKind
from tests.accounts.factories import AccountFactory
from tests.notes.factories import HandoffFactory

pytestmark = pytest.mark.django_db


def config(**weights) -> HealthScoreConfig:
    cfg = HealthScoreConfig.load()
    for name, value in weights.items():
        setattr(cfg, name, value)
    cfg.save()
    return cfg


def test_score_is_the_weighted_mean_of_components_with_input():
    values = {
        "csat_percent": 80.0,  # -> 80, weight 2
        "nps": -20.0,  # -> 40, weight 2
        "ces_average": 4.0,  # -> 50, weight 1
        "first_response_seconds_median": 7200.0,  # within 4 h -> 100, weight 2
        "backlog": 3,  # -> 70, weight 1
        "net_revenue_retention": None,  # no input: left out
    }
    health = health_compute(values, has_churn_risk_handoff=True, config=config())
    # (160 + 80 + 50 + 200 + 70 + 0) / (2 + 2 + 1 + 2 + 1 + 2)
    assert health.score == pytest.approx(56.0)
    assert health.band == "yellow"
    assert health.components["nps"]["value"] == pytest.approx(40.0)
    assert health.components["nrr"]["value"] is None
    assert health.components["escalations"]["value"] == 0.0
    assert health_explain(health.components) == [
        "A pending churn-risk handoff pulled it down by 20 points",
        "NPS -20 pulled it down by 12 points",
        "Customer effort 4.0/7 pulled it down by 5 points",
    ]


@pytest.mark.parametrize(
    ("median", "expected"),
    [(14400.0, 100.0), (21600.0, 75.0), (43200.0, 0.0), (90000.0, 0.0), (60.0, 100.0)],
)
def test_first_response_component_falls_linearly_to_zero_at_three_times_target(median, expected):
    health = health_compute(
        {"first_response_seconds_median": median}, has_churn_risk_handoff=False, config=config()
    )
    assert health.components["first_response"]["value"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("nrr", "expected"), [(0.5, 0.0), (0.7, 0.0), (0.9, 50.0), (1.1, 100.0), (1.4, 100.0)]
)
def test_nrr_component(nrr, expected):
    health = health_compute(
        {"net_revenue_retention": nrr}, has_churn_risk_handoff=False, config=config()
    )
    assert health.components["nrr"]["value"] == pytest.approx(expected)


def test_bands_follow_the_admin_thresholds_and_weights():
    values = {"csat_percent": 65.0, "backlog": None}
    cfg = config(weight_escalations=0)
    assert health_compute(values, has_churn_risk_handoff=False, config=cfg).band == "yellow"
    cfg = config(weight_escalations=0, green_min=60, yellow_min=30)
    health = health_compute(values, has_churn_risk_handoff=False, config=cfg)
    assert (health.score, health.band) == (65.0, "green")
    cfg = config(weight_escalations=0, weight_csat=0)
    assert health_compute(values, has_churn_risk_handoff=False, config=cfg).score is None


def _open_tickets(contact, count: int) -> list:
    return [
        inbox.ticket_create(
            requester=contact, subject="Down", content=inbox.InboundContent(body_text="help")
        )
        for _ in range(count)
    ]


def test_turning_red_notifies_the_success_manager_and_marks_the_account_at_risk(
    account, contact, success_manager, agent
):
    tickets = _open_tickets(contact, 8)  # backlog component 20
    handoff = HandoffFactory(ticket=tickets[0], from_user=agent, to_user=success_manager)
    recompute_accounts(account_ids=[account.pk])
    metrics = AccountMetrics.objects.get(account=account)
    # (0 x 2 + 20 x 1) / 3 with the handoff pending
    assert metrics.health_score == pytest.approx(20 / 3, abs=1e-3)
    assert metrics.health_band == "red"
    assert metrics.health_components["escalations"]["value"] == 0.0
    account.refresh_from_db()
    assert account.lifecycle == Lifecycle.AT_RISK
    alert = Notification.objects.get(recipient=success_manager, kind=NotificationKind.ACCOUNT_RED)
    assert alert.account_id == account.pk
    assert "Acme turned red" in alert.text
    change = HealthBandChange.objects.get(account=account)
    assert (change.from_band, change.to_band) == ("", "red")

    recompute_accounts(account_ids=[account.pk])  # still red: no second alert
    assert Notification.objects.filter(kind=NotificationKind.ACCOUNT_RED).count() == 1

    handoff.status = HandoffStatus.ACCEPTED
    handoff.save()
    recompute_accounts(account_ids=[account.pk])
    metrics = AccountMetrics.objects.get(account=account)
    assert metrics.health_score == pytest.approx(220 / 3, abs=1e-3)
    assert metrics.health_band == "green"
    recovery = HealthBandChange.objects.filter(account=account).first()
    assert (recovery.from_band, recovery.to_band, recovery.is_recovery) == ("red", "green", True)


def test_recompute_metrics_command_rebuilds_one_or_all_accounts(account):
    other = AccountFactory()
    out = StringIO()
    call_command("recompute_metrics", "--account", str(account.pk), stdout=out)
    assert "Recomputed 1 account(s)" in out.getvalue()
    assert AccountMetrics.objects.filter(account=account).exists()
    assert not AccountMetrics.objects.filter(account=other).exists()
    call_command("recompute_metrics", stdout=out)
    assert AccountMetrics.objects.filter(account=other).exists()
    with pytest.raises(CommandError):
        call_command("recompute_metrics", "--account", "999999", stdout=out)


@pytest.mark.django_db(transaction=True)
def test_concurrent_recomputes_of_one_account_agree(account, contact):
    """Runs at once serialise on the advisory lock and leave identical values."""
    _open_tickets(contact, 2)
    now = dt.datetime.now(tz=dt.UTC)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            recompute_accounts(account_ids=[account.pk], now=now)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AccountMetrics.objects.filter(account=account).count() == 1
    assert MetricSnapshot.objects.filter(account=account).count() == 1
    together = AccountMetrics.objects.filter(account=account).values().get()
    recompute_accounts(account_ids=[account.pk], now=now)
    assert AccountMetrics.objects.filter(account=account).values().get() == together
    assert together["tickets_created"] == 2
    assert together["backlog"] == 2
