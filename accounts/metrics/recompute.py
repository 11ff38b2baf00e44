"""Recompute the metrics of a chunk of accounts: read set-based, upsert, clear flags."""

from __future__ import annotations

import datetime as dt
import operator
from decimal import Decimal
from functools import reduce
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import (
    Account,
    AccountMetrics,
    HealthBand,
    HealthBandChange,
    HealthScoreConfig,
    Lifecycle,
    MetricSnapshot,
)

from . import compute
from .health import health_compute

# Advisory-lock namespace for "recomputing account N" (first key of the two-int form).
LOCK_NAMESPACE = 0x6D657472  # "metr"

METRIC_FIELDS = [
    "tickets_created",
    "first_response_seconds_median",
    "first_response_seconds_p90",
    "first_response_business_seconds_median",
    "resolution_seconds_median",
    "resolution_rate",
    "first_contact_resolution_rate",
    "backlog",
    "csat_percent",
    "ces_average",
    "nps",
    "mrr",
    "net_revenue_retention",
    "gross_revenue_retention",
    "expansion_mrr_12m",
    "upsell_rate",
    "churned",
    "lifetime_revenue",
    "clv",
    "health_score",
    "health_band",
    "health_components",
    "computed_at",
]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def metric_values(inputs: compute.Inputs, clock: compute.Clock) -> dict[str, Any]:
    """Turn one account's aggregated inputs into the contract's metric values."""
    t = inputs.tickets
    created = int(t.get("created") or 0)
    solved = int(t.get("solved") or 0)
    values: dict[str, Any] = {
        "tickets_created": created,
        "first_response_seconds_median": t.get("frt_median"),
        "first_response_seconds_p90": t.get("frt_p90"),
        "first_response_business_seconds_median": t.get("frt_business_median"),
        "resolution_seconds_median": t.get("resolution_median"),
        "resolution_rate": _ratio(int(t.get("created_done") or 0), created),
        "first_contact_resolution_rate": _ratio(int(t.get("solved_first_contact") or 0), solved),
        "backlog": int(t.get("backlog") or 0),
    }
    s = inputs.surveys
    csat_n, ces_n, nps_n = (int(s.get(k) or 0) for k in ("csat_n", "ces_n", "nps_n"))
    values["csat_percent"] = 100 * int(s.get("csat_good") or 0) / csat_n if csat_n else None
    values["ces_average"] = int(s.get("ces_sum") or 0) / ces_n if ces_n else None
    values["nps"] = (
        100 * (int(s.get("nps_promoters") or 0) - int(s.get("nps_detractors") or 0)) / nps_n
        if nps_n
        else None
    )
    values.update(_revenue_values(inputs, clock))
    return values


def _revenue_values(inputs: compute.Inputs, clock: compute.Clock) -> dict[str, Any]:
    r = inputs.revenue
    if not r.get("events"):
        # No revenue event up to today: every revenue metric lacks its input.
        return dict.fromkeys(
            (
                "mrr",
                "net_revenue_retention",
                "gross_revenue_retention",
                "expansion_mrr_12m",
                "upsell_rate",
                "churned",
                "lifetime_revenue",
                "clv",
            )
        )
    mrr: Decimal = r["mrr"]
    start: Decimal = r["mrr_year_ago"]
    expansion: Decimal = r["expansion"]
    shrink: Decimal = r["shrink"]
    nrr = grr = upsell = None
    if start > 0:
        nrr = float((start + expansion + shrink) / start)
        grr = min(1.0, float((start + shrink) / start))
        upsell = float(expansion / start)
    clv = None
    if mrr > 0:
        monthly_churn = max(0.01, inputs.plan_monthly_churn)
        margin = Decimal(str(settings.GROSS_MARGIN))
        clv = compute.cents(mrr * margin / Decimal(str(monthly_churn)))
    return {
        "mrr": compute.cents(mrr),
        "net_revenue_retention": nrr,
        "gross_revenue_retention": grr,
        "expansion_mrr_12m": compute.cents(expansion),
        "upsell_rate": upsell,
        "churned": mrr <= 0 and inputs.ever_positive,
        "lifetime_revenue": compute.cents(r["lifetime_x30"] / 30),
        "clv": clv,
    }


def compute_accounts(
    *, account_ids: list[int], now: dt.datetime, plans: dict[int, str]
) -> dict[int, tuple[dict[str, Any], bool]]:
    """Metric values of each account, with whether it has a pending churn-risk handoff."""
    clock = compute.Clock.at(now)
    tickets = compute.ticket_inputs(account_ids, clock)
    surveys = compute.survey_inputs(account_ids, clock)
    revenue = compute.revenue_inputs(account_ids, clock)
    positive = compute.ever_positive(account_ids, clock)
    plan_churn = compute.plan_monthly_churn(set(plans.values()), clock)
    risky = compute.churn_risk_accounts(account_ids)
    out = {}
    for account_id in account_ids:
        inputs = compute.Inputs(
            tickets=tickets.get(account_id, {}),
            surveys=surveys.get(account_id, {}),
            revenue=revenue.get(account_id, {}),
            ever_positive=account_id in positive,
            plan_monthly_churn=plan_churn.get(plans.get(account_id, ""), 0.0),
            has_churn_risk_handoff=account_id in risky,
        )
        out[account_id] = (metric_values(inputs, clock), account_id in risky)
    return out


def _lock(account_ids: list[int]) -> None:
    """Serialise recomputes of the same account (held until the transaction ends)."""
    if connection.vendor != "postgresql":
        return  # SQLite serialises writers already
    with connection.cursor() as cursor:
        # A run stuck behind a hung one gives up (OperationalError: the task retries) rather
        # than waiting forever; a dead run's locks go with its connection.
        cursor.execute("SET LOCAL lock_timeout = '60s'")
        # Sorted, so two chunks that overlap take their locks in one order (no deadlock).
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, (s.id & 2147483647)::int4) FROM "
            "(SELECT unnest(%s::bigint[]) AS id ORDER BY 1) s",
            [LOCK_NAMESPACE, sorted(account_ids)],
        )


@transaction.atomic
def recompute_accounts(*, account_ids: list[int], now: dt.datetime | None = None) -> int:
    """Recompute `account_ids` from the raw tables; return how many accounts were written.

    Idempotent: upserts the live row and today's snapshot. Concurrent runs for the same
    account wait on an advisory lock, so they cannot interleave their writes. The dirty
    flag is cleared only if it still holds the value read before the inputs were read: a
    change committed meanwhile has moved it (or is holding the row), so it stays dirty.
    """
    account_ids = sorted({int(pk) for pk in account_ids})
    if not account_ids:
        return 0
    _lock(account_ids)
    accounts = {
        row["id"]: row
        for row in Account.objects.filter(pk__in=account_ids).values(
            "id", "name", "plan", "mrr", "lifecycle", "success_manager_id", "metrics_dirty_at"
        )
    }
    if not accounts:
        return 0
    ids = sorted(accounts)
    now = now or timezone.now()
    computed = compute_accounts(
        account_ids=ids, now=now, plans={pk: row["plan"] for pk, row in accounts.items()}
    )
    config = HealthScoreConfig.load()
    previous = dict(
        AccountMetrics.objects.filter(account_id__in=ids).values_list("account_id", "health_band")
    )
    live, snapshots = [], []
    today = timezone.localdate(now)
    for account_id in ids:
        values, risky = computed[account_id]
        health = health_compute(values, has_churn_risk_handoff=risky, config=config)
        values.update(
            health_score=health.score,
            health_band=health.band,
            health_components=health.components,
            computed_at=now,
        )
        live.append(AccountMetrics(account_id=account_id, **values))
        snapshots.append(MetricSnapshot(account_id=account_id, date=today, **values))
    AccountMetrics.objects.bulk_create(
        live, update_conflicts=True, unique_fields=["account"], update_fields=METRIC_FIELDS
    )
    MetricSnapshot.objects.bulk_create(
        snapshots,
        update_conflicts=True,
        unique_fields=["account", "date"],
        update_fields=METRIC_FIELDS,
    )
    _denormalise_mrr(accounts, live)
    _band_changes(accounts, previous, live)
    _clear_dirty(accounts)
    return len(live)


def _denormalise_mrr(accounts: dict[int, dict], live: list[AccountMetrics]) -> None:
    changed = [
        Account(pk=row.account_id, mrr=row.mrr or Decimal("0"))
        for row in live
        if (row.mrr or Decimal("0")) != accounts[row.account_id]["mrr"]
    ]
    if changed:
        Account.objects.bulk_update(changed, ["mrr"])


def _band_changes(
    accounts: dict[int, dict], previous: dict[int, str], live: list[AccountMetrics]
) -> None:
    """Record band moves; turning red alerts the success manager and marks the account."""
    from notes.models import NotificationKind
    from notes.notify import notify

    changes, at_risk = [], []
    for row in live:
        before = previous.get(row.account_id, "")
        if before == row.health_band or (not before and row.health_band != HealthBand.RED):
            continue
        account = accounts[row.account_id]
        changes.append(
            HealthBandChange(
                account_id=row.account_id,
                from_band=before,
                to_band=row.health_band,
                score=row.health_score,
                components=row.health_components,
            )
        )
        if row.health_band == HealthBand.RED and account["lifecycle"] != Lifecycle.CHURNED:
            if account["lifecycle"] != Lifecycle.AT_RISK:
                at_risk.append(row.account_id)
            if account["success_manager_id"]:
                notify(
                    recipients=[account["success_manager_id"]],
                    kind=NotificationKind.ACCOUNT_RED,
                    account=Account(pk=row.account_id),
                    text=f"{account['name']} turned red (health {row.health_score:.0f})",
                    data={"account": row.account_id, "score": row.health_score},
                )
    if changes:
        _announce_band_changes(accounts, HealthBandChange.objects.bulk_create(changes))
    if at_risk:
        Account.objects.filter(pk__in=at_risk).update(
            lifecycle=Lifecycle.AT_RISK, updated_at=timezone.now()
        )


def _announce_band_changes(accounts: dict[int, dict], changes: list[HealthBandChange]) -> None:
    """Tell webhook subscribers, and run the rules of the account's open tickets."""
    from api.webhooks import account_health_payload, webhook_emit  # the API sits on top
    from automations.engine import active_rules, rules_fire  # so do automations
    from inbox.models import OPEN_STATUSES, Ticket

    for change in changes:
        webhook_emit(
            "account.health_changed",
            account_health_payload(
                Account(pk=change.account_id, name=accounts[change.account_id]["name"]),
                old_score=None,
                old_band=change.from_band,
                new_score=change.score,
                new_band=change.to_band,
            ),
        )
    rules = active_rules("health_band_changed")
    if not rules:
        return
    for change in changes:
        open_tickets = Ticket.objects.filter(
            account_id=change.account_id, status__in=OPEN_STATUSES
        ).values_list("pk", flat=True)[:100]
        for ticket_id in open_tickets:
            rules_fire(
                trigger="health_band_changed",
                ticket_id=ticket_id,
                event_key=f"band:{change.pk}",
                rules=rules,
            )


def _clear_dirty(accounts: dict[int, dict]) -> None:
    # Compare-and-clear in one statement: a writer that marked the account since our read
    # changed the value (or holds the row until it commits, and then it differs).
    matches = [
        Q(pk=pk, metrics_dirty_at=row["metrics_dirty_at"])
        for pk, row in accounts.items()
        if row["metrics_dirty_at"] is not None
    ]
    if matches:
        Account.objects.filter(reduce(operator.or_, matches)).update(metrics_dirty_at=None)
