"""Portfolio metrics over a period [start, end]: overall, per success manager, per plan.

A customer is an account with MRR > 0. The period includes both days: the opening state is
MRR at the end of the day before `start`, the closing state MRR at the end of `end`, and the
period's events are those with start <= occurred_on <= end (so the per-account 365-day
metrics are this with start = today - 364, end = today).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from .compute import _date, _dt, _fetch, _ids_sql


@dataclass
class PortfolioRow:
    key: Any
    label: str
    customers_at_start: int = 0
    customers_at_end: int = 0
    acquired: int = 0
    lost: int = 0
    expanded: int = 0
    mrr_at_start: Decimal = Decimal("0")
    mrr_at_end: Decimal = Decimal("0")
    retained_mrr: Decimal = Decimal("0")  # start customers: start + all period deltas kept
    gross_mrr: Decimal = Decimal("0")
    csat_n: int = 0
    csat_good: int = 0
    nps_n: int = 0
    nps_net: int = 0
    accounts: list[int] = field(default_factory=list)

    @property
    def retention_rate(self) -> float | None:
        if not self.customers_at_start:
            return None
        return (self.customers_at_end - self.acquired) / self.customers_at_start

    @property
    def churn_rate(self) -> float | None:
        return self.lost / self.customers_at_start if self.customers_at_start else None

    @property
    def upsell_rate(self) -> float | None:
        return self.expanded / self.customers_at_start if self.customers_at_start else None

    @property
    def net_revenue_retention(self) -> float | None:
        return float(self.retained_mrr / self.mrr_at_start) if self.mrr_at_start > 0 else None

    @property
    def gross_revenue_retention(self) -> float | None:
        if self.mrr_at_start <= 0:
            return None
        return min(1.0, float(self.gross_mrr / self.mrr_at_start))

    @property
    def csat_percent(self) -> float | None:
        return 100 * self.csat_good / self.csat_n if self.csat_n else None

    @property
    def nps(self) -> float | None:
        return 100 * self.nps_net / self.nps_n if self.nps_n else None


@dataclass
class Portfolio:
    start: dt.date
    end: dt.date
    overall: PortfolioRow
    by_manager: list[PortfolioRow]
    by_plan: list[PortfolioRow]


def _account_rows(account_ids: list[int], start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    in_period = "r.occurred_on >= %(start)s AND r.occurred_on <= %(end)s"
    sql = f"""
        SELECT a.id, a.plan, a.success_manager_id,
            COALESCE(SUM(CASE WHEN r.occurred_on < %(start)s THEN r.mrr_delta END), 0)
                AS opening,
            COALESCE(SUM(CASE WHEN r.occurred_on <= %(end)s THEN r.mrr_delta END), 0)
                AS closing,
            COALESCE(SUM(CASE WHEN {in_period} AND r.kind = 'expansion' THEN r.mrr_delta END), 0)
                AS expansion,
            COALESCE(SUM(CASE WHEN {in_period} AND r.kind IN ('contraction', 'churn')
                THEN r.mrr_delta END), 0) AS shrink
        FROM accounts_account a
        LEFT JOIN accounts_revenueevent r ON r.account_id = a.id
        WHERE a.id IN ({_ids_sql(account_ids)})
        GROUP BY a.id, a.plan, a.success_manager_id
    """  # noqa: S608 - ids are ints
    return _fetch(sql, {"start": _date(start), "end": _date(end)})


def _survey_rows(account_ids: list[int], start: dt.date, end: dt.date) -> dict[int, dict]:
    begin = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    finish = timezone.make_aware(dt.datetime.combine(end, dt.time.max))
    sql = f"""
        SELECT s.account_id,
            SUM(CASE WHEN s.kind = 'csat' THEN 1 ELSE 0 END) AS csat_n,
            SUM(CASE WHEN s.kind = 'csat' AND s.score >= 4 THEN 1 ELSE 0 END) AS csat_good,
            SUM(CASE WHEN s.kind = 'nps' THEN 1 ELSE 0 END) AS nps_n,
            SUM(CASE WHEN s.kind = 'nps' AND s.score >= 9 THEN 1
                     WHEN s.kind = 'nps' AND s.score <= 6 THEN -1 ELSE 0 END) AS nps_net
        FROM accounts_surveyresponse s
        WHERE s.account_id IN ({_ids_sql(account_ids)})
            AND s.responded_at >= %(begin)s AND s.responded_at <= %(finish)s
        GROUP BY s.account_id
    """  # noqa: S608
    rows = _fetch(sql, {"begin": _dt(begin), "finish": _dt(finish)})
    return {row["account_id"]: row for row in rows}


def _add(row: PortfolioRow, account: dict[str, Any], surveys: dict[str, Any] | None) -> None:
    opening = Decimal(str(account["opening"]))
    closing = Decimal(str(account["closing"]))
    expansion = Decimal(str(account["expansion"]))
    shrink = Decimal(str(account["shrink"]))
    row.accounts.append(account["id"])
    was, isnow = opening > 0, closing > 0
    row.customers_at_start += was
    row.customers_at_end += isnow
    row.acquired += isnow and not was
    row.lost += was and not isnow
    row.mrr_at_end += closing
    if was:
        row.mrr_at_start += opening
        row.expanded += expansion > 0
        row.retained_mrr += opening + expansion + shrink
        row.gross_mrr += opening + shrink
    if surveys:
        row.csat_n += int(surveys["csat_n"] or 0)
        row.csat_good += int(surveys["csat_good"] or 0)
        row.nps_n += int(surveys["nps_n"] or 0)
        row.nps_net += int(surveys["nps_net"] or 0)


def portfolio_compute(
    *,
    account_ids: Iterable[int],
    start: dt.date,
    end: dt.date,
    manager_names: dict[int | None, str] | None = None,
) -> Portfolio:
    """Aggregate per account in SQL, then sum the per-account rows into the groups."""
    ids = sorted(set(account_ids))
    overall = PortfolioRow(key="all", label="All accounts")
    managers: dict[Any, PortfolioRow] = {}
    plans: dict[str, PortfolioRow] = {}
    if ids:
        surveys = _survey_rows(ids, start, end)
        names = manager_names or {}
        for account in _account_rows(ids, start, end):
            found = surveys.get(account["id"])
            _add(overall, account, found)
            manager = account["success_manager_id"]
            if manager not in managers:
                managers[manager] = PortfolioRow(
                    key=manager, label=names.get(manager, "No success manager")
                )
            _add(managers[manager], account, found)
            plan = account["plan"] or ""
            if plan not in plans:
                plans[plan] = PortfolioRow(key=plan, label=plan or "No plan")
            _add(plans[plan], account, found)
    return Portfolio(
        start=start,
        end=end,
        overall=overall,
        by_manager=sorted(managers.values(), key=lambda r: r.label.lower()),
        by_plan=sorted(plans.values(), key=lambda r: r.label.lower()),
    )


def monthly_periods(end: dt.date, months: int = 12) -> list[tuple[dt.date, dt.date]]:
    """Calendar months ending with the one that contains `end` (the last one cut at `end`)."""
    periods = []
    year, month = end.year, end.month
    for _ in range(months):
        first = dt.date(year, month, 1)
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        periods.append((first, min(end, nxt - dt.timedelta(days=1))))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(periods))


def portfolio_trend(
    *, account_ids: Iterable[int], end: dt.date, months: int = 12
) -> list[tuple[tuple[dt.date, dt.date], PortfolioRow]]:
    """Overall retention/churn/upsell/NRR per calendar month (two queries per month)."""
    ids = list(account_ids)
    return [
        ((first, last), portfolio_compute(account_ids=ids, start=first, end=last).overall)
        for first, last in monthly_periods(end, months)
    ]
