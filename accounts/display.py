"""How each metric is labelled and formatted on pages (one place, shared by templates)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from django.utils.safestring import SafeString

from .charts import sparkline
from .metrics.health import format_duration


def _duration(value: Any) -> str:
    return format_duration(float(value))


def _rate(value: Any) -> str:
    return f"{float(value) * 100:.0f}%"


def _percent(value: Any) -> str:
    return f"{float(value):.0f}%"


def _money(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{float(value):.1f}"


def _signed(value: Any) -> str:
    return f"{float(value):+.0f}"


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


def health_points(score: float | None) -> str:
    """A health score in whole points, rounded down: 69.6 is "69", as its yellow band says.
    Rounding to nearest showed "70" on a yellow account (green starts at 70)."""
    if score is None:
        return ""
    return str(math.floor(float(score)))


# (field, label, formatter, help)
METRICS: list[tuple[str, str, Callable[[Any], str], str]] = [
    ("health_score", "Health score", health_points, "0-100, weighted components"),
    ("tickets_created", "Tickets created", _number, "last 90 days"),
    ("backlog", "Backlog", _number, "open now"),
    ("first_response_seconds_median", "First response (median)", _duration, "last 90 days"),
    ("first_response_seconds_p90", "First response (p90)", _duration, "last 90 days"),
    (
        "first_response_business_seconds_median",
        "First response, business hours (median)",
        _duration,
        "last 90 days",
    ),
    ("resolution_seconds_median", "Resolution (median)", _duration, "solved, last 90 days"),
    ("resolution_rate", "Resolution rate", _rate, "of tickets created, last 90 days"),
    ("first_contact_resolution_rate", "First-contact resolution", _rate, "last 90 days"),
    ("csat_percent", "CSAT", _percent, "share of 4-5, last 90 days"),
    ("ces_average", "Customer effort", lambda v: f"{float(v):.1f} / 7", "last 90 days"),
    ("nps", "NPS", _signed, "last 90 days"),
    ("mrr", "MRR", _money, "now"),
    ("net_revenue_retention", "Net revenue retention", _rate, "last 365 days"),
    ("gross_revenue_retention", "Gross revenue retention", _rate, "last 365 days"),
    ("expansion_mrr_12m", "Expansion MRR", _money, "last 365 days"),
    ("upsell_rate", "Upsell rate", _rate, "last 365 days"),
    ("lifetime_revenue", "Lifetime revenue", _money, "to yesterday"),
    ("clv", "Customer lifetime value", _money, "MRR x margin / plan churn"),
    ("churned", "Churned", _yes_no, "MRR 0 after > 0"),
]


def fmt(value: Any, formatter: Callable[[Any], str]) -> str:
    return "—" if value is None else formatter(value)


def metric_rows(
    metrics: Any, snapshots: Sequence[Any], *, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    """One row per metric: label, current value, and its 90-day trend (from snapshots)."""
    rows = []
    for name, label, formatter, hint in METRICS:
        current = getattr(metrics, name, None) if metrics is not None else None
        points = []
        for snap in snapshots:
            value = getattr(snap, name)
            if isinstance(value, bool):
                value = float(value)
            points.append((snap.date, None if value is None else float(value)))
        chart: SafeString = sparkline(points, start=start, end=end, label=label)
        rows.append(
            {
                "name": name,
                "label": label,
                "value": fmt(current, formatter),
                "hint": hint,
                "chart": chart,
            }
        )
    return rows


def rate_text(value: float | None) -> str:
    return fmt(value, _rate)


def duration_text(value: float | None) -> str:
    return fmt(value, _duration)


def percent_text(value: float | None) -> str:
    return fmt(value, _percent)


def money_text(value: Any) -> str:
    return fmt(value, _money)


def signed_text(value: float | None) -> str:
    return fmt(value, _signed)
