"""Health score: weighted components (each 0-100), the band, and how to explain them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from accounts.models import HealthBand, HealthScoreConfig

# Order shown in the UI; labels are what the explanation calls each component.
COMPONENTS = ("csat", "nps", "ces", "first_response", "backlog", "escalations", "nrr")
LABELS = {
    "csat": "CSAT",
    "nps": "NPS",
    "ces": "Customer effort",
    "first_response": "First response",
    "backlog": "Backlog",
    "escalations": "Escalations",
    "nrr": "Net revenue retention",
}


@dataclass(frozen=True)
class Health:
    score: float | None
    band: str
    components: dict[str, dict[str, Any]]


def _linear(value: float, zero_at: float, hundred_at: float) -> float:
    """0 at `zero_at`, 100 at `hundred_at`, linear between, clamped."""
    share = (value - zero_at) / (hundred_at - zero_at)
    return max(0.0, min(100.0, share * 100.0))


def format_duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    return f"{round(hours / 24)}d"


def components_for(
    values: dict[str, Any], *, has_churn_risk_handoff: bool
) -> dict[str, tuple[float | None, str]]:
    """Each component's 0-100 value (None without input) and a short phrase of its input."""
    target = float(settings.HEALTH_FRT_TARGET_SECONDS)
    out: dict[str, tuple[float | None, str]] = {}
    csat = values.get("csat_percent")
    out["csat"] = (csat, f"CSAT {csat:.0f}%") if csat is not None else (None, "no CSAT")
    nps = values.get("nps")
    out["nps"] = ((nps + 100) / 2, f"NPS {nps:+.0f}") if nps is not None else (None, "no NPS")
    if out["nps"][0] is not None and round(nps) == 0:
        out["nps"] = (out["nps"][0], "NPS 0")
    ces = values.get("ces_average")
    out["ces"] = (
        ((ces - 1) / 6 * 100, f"Customer effort {ces:.1f}/7") if ces is not None else (None, "")
    )
    frt = values.get("first_response_seconds_median")
    out["first_response"] = (
        (_linear(frt, 3 * target, target), f"First response median {format_duration(frt)}")
        if frt is not None
        else (None, "")
    )
    backlog = values.get("backlog")
    out["backlog"] = (
        (max(0.0, 100.0 - 10.0 * backlog), f"Backlog of {backlog} open tickets")
        if backlog is not None
        else (None, "")
    )
    out["escalations"] = (
        (0.0, "A pending churn-risk handoff")
        if has_churn_risk_handoff
        else (100.0, "No pending churn-risk handoff")
    )
    nrr = values.get("net_revenue_retention")
    out["nrr"] = (
        (_linear(nrr, 0.7, 1.1), f"NRR {nrr * 100:.0f}%") if nrr is not None else (None, "")
    )
    return out


def health_compute(
    values: dict[str, Any], *, has_churn_risk_handoff: bool, config: HealthScoreConfig
) -> Health:
    """sum(w_i x c_i) / sum(w_i) over the components with input; band from the thresholds."""
    weights = config.weights()
    parts = components_for(values, has_churn_risk_handoff=has_churn_risk_handoff)
    used = {
        name: (value, weights[name])
        for name, (value, _) in parts.items()
        if value is not None and weights[name] > 0
    }
    total_weight = sum(weight for _, weight in used.values())
    score = (
        sum(value * weight for value, weight in used.values()) / total_weight
        if total_weight
        else None
    )
    components: dict[str, dict[str, Any]] = {}
    for name in COMPONENTS:
        value, phrase = parts[name]
        weight = weights[name]
        impact = weight * (100.0 - value) / total_weight if name in used and total_weight else None
        components[name] = {
            "label": LABELS[name],
            "value": None if value is None else round(value, 4),
            "weight": weight,
            "input": phrase,
            # Points the score lost to this component versus a perfect 100 on it.
            "impact": None if impact is None else round(impact, 4),
        }
    band = ""
    if score is not None:
        score = round(score, 4)
        if score >= config.green_min:
            band = HealthBand.GREEN
        elif score >= config.yellow_min:
            band = HealthBand.YELLOW
        else:
            band = HealthBand.RED
    return Health(score=score, band=band, components=components)


def health_explain(components: dict[str, dict[str, Any]], *, limit: int = 3) -> list[str]:
    """Sentences like "NPS -20 pulled it down by 12 points", biggest drag first."""
    drags = sorted(
        (part for part in components.values() if part.get("impact")),
        key=lambda part: part["impact"],
        reverse=True,
    )
    sentences = []
    for part in drags[:limit]:
        points = round(part["impact"])
        if points < 1:
            continue
        unit = "point" if points == 1 else "points"
        sentences.append(f"{part['input']} pulled it down by {points} {unit}")
    return sentences
