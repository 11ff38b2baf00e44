"""Set-based reads of the metric inputs: one grouped query per source, per chunk of accounts.

Every query aggregates over `account_id IN (chunk)` and returns one row per account; nothing
here loops over tickets, messages or responses in Python. PostgreSQL is the main path
(`percentile_cont`); the embedded SQLite demo computes the same percentiles in Python from
the qualifying values (SQLite has no ordered-set aggregates).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import connection

DONE = ("solved", "closed")
CENT = Decimal("0.01")
REVENUE_DAYS = 365


@dataclass(frozen=True)
class Clock:
    """The instants a computation uses: the ticket window and the revenue days."""

    now: dt.datetime
    window_start: dt.datetime
    today: dt.date

    @classmethod
    def at(cls, now: dt.datetime) -> Clock:
        from django.utils import timezone

        return cls(
            now=now,
            window_start=now - dt.timedelta(days=settings.METRICS_WINDOW_DAYS),
            today=timezone.localdate(now),
        )

    @property
    def year_ago(self) -> dt.date:
        return self.today - dt.timedelta(days=REVENUE_DAYS)


@dataclass
class Inputs:
    """The aggregated inputs of one account (None where the source has no rows)."""

    tickets: dict[str, Any] = field(default_factory=dict)
    surveys: dict[str, Any] = field(default_factory=dict)
    revenue: dict[str, Any] = field(default_factory=dict)
    ever_positive: bool = False
    plan_monthly_churn: float = 0.0
    has_churn_risk_handoff: bool = False


def _ids_sql(account_ids: list[int]) -> str:
    # Integers we produced ourselves, cast again: safe to inline, and one statement per chunk.
    return ",".join(str(int(pk)) for pk in account_ids) or "NULL"


def _dt(value: dt.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _date(value: dt.date) -> Any:
    return connection.ops.adapt_datefield_value(value)


def _seconds_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))::float8"
    # julianday() carries ~20 microseconds of float error at today's dates: round to 1 ms.
    return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"


def _days_before(day_param: str, column: str) -> str:
    """Whole days from `column` up to the date parameter."""
    if connection.vendor == "postgresql":
        return f"({day_param}::date - {column})"
    return f"CAST(ROUND(julianday({day_param}) - julianday({column})) AS INTEGER)"


def _fetch(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [col[0] for col in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """Continuous percentile with linear interpolation, as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


# --- tickets -----------------------------------------------------------------------------

_CREATED = "t.created_at >= %(ws)s AND t.created_at <= %(now)s"
_SOLVED = "t.status IN ('solved', 'closed') AND t.solved_at >= %(ws)s AND t.solved_at <= %(now)s"


def ticket_inputs(account_ids: list[int], clock: Clock) -> dict[int, dict[str, Any]]:
    frt = _seconds_between("t.first_response_at", "t.created_at")
    resolution = _seconds_between("t.solved_at", "t.created_at")
    frt_filter = f"{_CREATED} AND t.first_response_at IS NOT NULL"
    bh_filter = f"{_CREATED} AND t.first_response_business_seconds IS NOT NULL"
    percentiles = ""
    if connection.vendor == "postgresql":
        percentiles = f""",
            percentile_cont(0.5) WITHIN GROUP (ORDER BY {frt}) FILTER (WHERE {frt_filter})
                AS frt_median,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY {frt}) FILTER (WHERE {frt_filter})
                AS frt_p90,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY t.first_response_business_seconds)
                FILTER (WHERE {bh_filter}) AS frt_business_median,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY {resolution}) FILTER (WHERE {_SOLVED})
                AS resolution_median"""
    sql = f"""
        SELECT t.account_id,
            SUM(CASE WHEN {_CREATED} THEN 1 ELSE 0 END) AS created,
            SUM(CASE WHEN {_CREATED} AND t.status IN ('solved', 'closed') THEN 1 ELSE 0 END)
                AS created_done,
            SUM(CASE WHEN {_SOLVED} THEN 1 ELSE 0 END) AS solved,
            SUM(CASE WHEN {_SOLVED} AND t.public_reply_count = 1 AND t.reopen_count = 0
                THEN 1 ELSE 0 END) AS solved_first_contact,
            SUM(CASE WHEN t.status NOT IN ('solved', 'closed') THEN 1 ELSE 0 END) AS backlog
            {percentiles}
        FROM inbox_ticket t
        WHERE t.account_id IN ({_ids_sql(account_ids)})
        GROUP BY t.account_id
    """  # noqa: S608 - ids are ints cast above; values are parameters
    params = {"ws": _dt(clock.window_start), "now": _dt(clock.now)}
    rows = {row.pop("account_id"): row for row in _fetch(sql, params)}
    if connection.vendor != "postgresql":
        _python_percentiles(account_ids, rows, params, frt, resolution, frt_filter, bh_filter)
    return rows


def _python_percentiles(
    account_ids: list[int],
    rows: dict[int, dict[str, Any]],
    params: dict[str, Any],
    frt: str,
    resolution: str,
    frt_filter: str,
    bh_filter: str,
) -> None:
    """Fill the percentile columns on databases without percentile_cont (the SQLite demo)."""
    sql = f"""
        SELECT t.account_id,
            CASE WHEN {frt_filter} THEN {frt} END AS frt,
            CASE WHEN {bh_filter} THEN t.first_response_business_seconds END AS frt_business,
            CASE WHEN {_SOLVED} THEN {resolution} END AS resolution
        FROM inbox_ticket t
        WHERE t.account_id IN ({_ids_sql(account_ids)})
            AND (({frt_filter}) OR ({bh_filter}) OR ({_SOLVED}))
    """  # noqa: S608
    values: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in _fetch(sql, params):
        for key in ("frt", "frt_business", "resolution"):
            if row[key] is not None:
                values[row["account_id"]][key].append(float(row[key]))
    for account_id, row in rows.items():
        found = values.get(account_id, {})
        row["frt_median"] = percentile_cont(found.get("frt", []), 0.5)
        row["frt_p90"] = percentile_cont(found.get("frt", []), 0.9)
        row["frt_business_median"] = percentile_cont(found.get("frt_business", []), 0.5)
        row["resolution_median"] = percentile_cont(found.get("resolution", []), 0.5)


# --- surveys -----------------------------------------------------------------------------


def survey_inputs(account_ids: list[int], clock: Clock) -> dict[int, dict[str, Any]]:
    sql = f"""
        SELECT s.account_id,
            SUM(CASE WHEN s.kind = 'csat' THEN 1 ELSE 0 END) AS csat_n,
            SUM(CASE WHEN s.kind = 'csat' AND s.score >= 4 THEN 1 ELSE 0 END) AS csat_good,
            SUM(CASE WHEN s.kind = 'ces' THEN 1 ELSE 0 END) AS ces_n,
            SUM(CASE WHEN s.kind = 'ces' THEN s.score ELSE 0 END) AS ces_sum,
            SUM(CASE WHEN s.kind = 'nps' THEN 1 ELSE 0 END) AS nps_n,
            SUM(CASE WHEN s.kind = 'nps' AND s.score >= 9 THEN 1 ELSE 0 END) AS nps_promoters,
            SUM(CASE WHEN s.kind = 'nps' AND s.score <= 6 THEN 1 ELSE 0 END) AS nps_detractors
        FROM accounts_surveyresponse s
        WHERE s.account_id IN ({_ids_sql(account_ids)})
            AND s.responded_at >= %(ws)s AND s.responded_at <= %(now)s
        GROUP BY s.account_id
    """  # noqa: S608
    params = {"ws": _dt(clock.window_start), "now": _dt(clock.now)}
    return {row.pop("account_id"): row for row in _fetch(sql, params)}


# --- revenue -----------------------------------------------------------------------------


def revenue_inputs(account_ids: list[int], clock: Clock) -> dict[int, dict[str, Any]]:
    """MRR now and a year ago, the year's deltas by kind, and lifetime revenue x 30."""
    in_year = "r.occurred_on > %(year_ago)s AND r.occurred_on <= %(today)s"
    sql = f"""
        SELECT r.account_id,
            SUM(CASE WHEN r.occurred_on <= %(today)s THEN 1 ELSE 0 END) AS events,
            SUM(CASE WHEN r.occurred_on <= %(today)s THEN r.mrr_delta ELSE 0 END) AS mrr,
            SUM(CASE WHEN r.occurred_on <= %(year_ago)s THEN r.mrr_delta ELSE 0 END)
                AS mrr_year_ago,
            SUM(CASE WHEN {in_year} AND r.kind = 'expansion' THEN r.mrr_delta ELSE 0 END)
                AS expansion,
            SUM(CASE WHEN {in_year} AND r.kind IN ('contraction', 'churn') THEN r.mrr_delta
                ELSE 0 END) AS shrink,
            SUM(CASE WHEN r.occurred_on < %(today)s
                THEN r.mrr_delta * {_days_before("%(today)s", "r.occurred_on")} ELSE 0 END)
                AS lifetime_x30
        FROM accounts_revenueevent r
        WHERE r.account_id IN ({_ids_sql(account_ids)})
        GROUP BY r.account_id
    """  # noqa: S608
    params = {"today": _date(clock.today), "year_ago": _date(clock.year_ago)}
    rows = {}
    for row in _fetch(sql, params):
        account_id = row.pop("account_id")
        rows[account_id] = {
            key: (int(value) if key == "events" else _decimal(value)) for key, value in row.items()
        }
    return rows


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def ever_positive(account_ids: list[int], clock: Clock) -> set[int]:
    """Accounts whose MRR was above 0 at the end of some day up to today."""
    sql = f"""
        SELECT d.account_id FROM (
            SELECT r.account_id,
                SUM(SUM(r.mrr_delta)) OVER (
                    PARTITION BY r.account_id ORDER BY r.occurred_on) AS running
            FROM accounts_revenueevent r
            WHERE r.account_id IN ({_ids_sql(account_ids)}) AND r.occurred_on <= %(today)s
            GROUP BY r.account_id, r.occurred_on
        ) d
        GROUP BY d.account_id
        HAVING MAX(CASE WHEN d.running > 0 THEN 1 ELSE 0 END) = 1
    """  # noqa: S608
    return {row["account_id"] for row in _fetch(sql, {"today": _date(clock.today)})}


def plan_monthly_churn(plans: set[str], clock: Clock) -> dict[str, float]:
    """Monthly logo churn of each plan over the last 365 days (before the floor)."""
    if not plans:
        return {}
    sql = """
        SELECT a.plan, COUNT(*) AS customers,
            SUM(CASE WHEN s.mrr_now <= 0 THEN 1 ELSE 0 END) AS lost
        FROM (
            SELECT r.account_id,
                SUM(CASE WHEN r.occurred_on <= %(year_ago)s THEN r.mrr_delta ELSE 0 END)
                    AS mrr_then,
                SUM(CASE WHEN r.occurred_on <= %(today)s THEN r.mrr_delta ELSE 0 END) AS mrr_now
            FROM accounts_revenueevent r
            JOIN accounts_account a ON a.id = r.account_id
            WHERE a.plan IN %(plans)s
            GROUP BY r.account_id
        ) s
        JOIN accounts_account a ON a.id = s.account_id
        WHERE s.mrr_then > 0
        GROUP BY a.plan
    """
    params: dict[str, Any] = {"today": _date(clock.today), "year_ago": _date(clock.year_ago)}
    # One named placeholder per plan: works the same on PostgreSQL and SQLite.
    names = {f"plan{i}": plan for i, plan in enumerate(sorted(plans))}
    sql = sql.replace("%(plans)s", "(" + ",".join(f"%({n})s" for n in names) + ")")
    params.update(names)
    return {
        row["plan"]: int(row["lost"]) / int(row["customers"]) / 12 for row in _fetch(sql, params)
    }


def churn_risk_accounts(account_ids: list[int]) -> set[int]:
    """Accounts with a pending handoff of reason churn risk on one of their tickets."""
    sql = f"""
        SELECT DISTINCT t.account_id FROM notes_handoff h
        JOIN inbox_ticket t ON t.id = h.ticket_id
        WHERE h.status = 'pending' AND h.reason = 'churn_risk'
            AND t.account_id IN ({_ids_sql(account_ids)})
    """  # noqa: S608
    return {row["account_id"] for row in _fetch(sql, {})}


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
