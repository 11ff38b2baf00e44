"""Support dashboard figures per team and per agent, with the account metrics' definitions."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection

from .compute import _dt, _fetch, _seconds_between, percentile_cont

GROUPS = {"team": "t.team_id", "agent": "t.assignee_id"}

_CREATED = "t.created_at >= %(ws)s AND t.created_at <= %(now)s"
_SOLVED = "t.status IN ('solved', 'closed') AND t.solved_at >= %(ws)s AND t.solved_at <= %(now)s"


@dataclass
class SupportRow:
    key: int | None
    created: int
    first_response_median: float | None
    resolution_median: float | None
    first_contact_resolution_rate: float | None
    csat_percent: float | None
    backlog: int
    label: str = ""


def support_rows(*, group: str, start: dt.datetime, end: dt.datetime) -> list[SupportRow]:
    """One row per team (or agent): window [start, end] for flows, backlog as of now."""
    column = GROUPS[group]
    frt = _seconds_between("t.first_response_at", "t.created_at")
    resolution = _seconds_between("t.solved_at", "t.created_at")
    frt_filter = f"{_CREATED} AND t.first_response_at IS NOT NULL"
    percentiles = ""
    if connection.vendor == "postgresql":
        percentiles = f""",
            percentile_cont(0.5) WITHIN GROUP (ORDER BY {frt}) FILTER (WHERE {frt_filter})
                AS frt_median,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY {resolution}) FILTER (WHERE {_SOLVED})
                AS resolution_median"""
    sql = f"""
        SELECT {column} AS key,
            SUM(CASE WHEN {_CREATED} THEN 1 ELSE 0 END) AS created,
            SUM(CASE WHEN {_SOLVED} THEN 1 ELSE 0 END) AS solved,
            SUM(CASE WHEN {_SOLVED} AND t.public_reply_count = 1 AND t.reopen_count = 0
                THEN 1 ELSE 0 END) AS first_contact,
            SUM(CASE WHEN t.status NOT IN ('solved', 'closed') THEN 1 ELSE 0 END) AS backlog
            {percentiles}
        FROM inbox_ticket t
        WHERE ({_CREATED}) OR ({_SOLVED}) OR t.status NOT IN ('solved', 'closed')
        GROUP BY {column}
    """  # noqa: S608 - the column comes from GROUPS
    params = {"ws": _dt(start), "now": _dt(end)}
    rows = {row["key"]: row for row in _fetch(sql, params)}
    if connection.vendor != "postgresql":
        values: dict[Any, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        sql = (
            f"SELECT {column} AS key, CASE WHEN {frt_filter} THEN {frt} END AS frt,"  # noqa: S608
            f" CASE WHEN {_SOLVED} THEN {resolution} END AS res FROM inbox_ticket t"
            f" WHERE ({frt_filter}) OR ({_SOLVED})"
        )
        for row in _fetch(sql, params):
            for name in ("frt", "res"):
                if row[name] is not None:
                    values[row["key"]][name].append(float(row[name]))
        for key, row in rows.items():
            row["frt_median"] = percentile_cont(values[key]["frt"], 0.5)
            row["resolution_median"] = percentile_cont(values[key]["res"], 0.5)
    csat = _fetch(
        f"""
        SELECT {column} AS key, COUNT(*) AS n,
            SUM(CASE WHEN s.score >= 4 THEN 1 ELSE 0 END) AS good
        FROM accounts_surveyresponse s JOIN inbox_ticket t ON t.id = s.ticket_id
        WHERE s.kind = 'csat' AND s.responded_at >= %(ws)s AND s.responded_at <= %(now)s
        GROUP BY {column}
        """,  # noqa: S608
        params,
    )
    csat_by_key = {row["key"]: row for row in csat}
    out = []
    for key in set(rows) | set(csat_by_key):
        row = rows.get(key, {})
        answers = csat_by_key.get(key)
        solved = int(row.get("solved") or 0)
        out.append(
            SupportRow(
                key=key,
                created=int(row.get("created") or 0),
                first_response_median=row.get("frt_median"),
                resolution_median=row.get("resolution_median"),
                first_contact_resolution_rate=(
                    int(row.get("first_contact") or 0) / solved if solved else None
                ),
                csat_percent=(
                    100 * int(answers["good"] or 0) / int(answers["n"]) if answers else None
                ),
                backlog=int(row.get("backlog") or 0),
            )
        )
    return out
