"""Server-drawn SVG trend charts: no JavaScript, no CDN, nothing to vendor.

Only numbers and fixed strings go into the markup (never user text), so the output is safe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


def sparkline(
    points: Sequence[tuple[dt.date, float | None]],
    *,
    start: dt.date,
    end: dt.date,
    width: int = 240,
    height: int = 48,
    label: str = "",
) -> SafeString:
    """A line over [start, end] through the non-null points; gaps where a value is null."""
    span = max((end - start).days, 1)
    known = [(day, float(value)) for day, value in points if value is not None]
    if not known:
        return format_html(
            '<svg class="spark empty" width="{}" height="{}" role="img" aria-label="{}">'
            '<line x1="0" y1="{}" x2="{}" y2="{}"/></svg>',
            width,
            height,
            f"{label}: no data in the last {span} days",
            height - 1,
            width,
            height - 1,
        )
    low = min(value for _, value in known)
    high = max(value for _, value in known)
    if high == low:
        low, high = low - 1, high + 1
    pad = 3

    def x(day: dt.date) -> float:
        return round(pad + (width - 2 * pad) * (day - start).days / span, 1)

    def y(value: float) -> float:
        return round(height - pad - (height - 2 * pad) * (value - low) / (high - low), 1)

    segments: list[list[str]] = [[]]
    for day, value in points:
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(f"{x(day)},{y(float(value))}")
    lines = "".join(f'<polyline points="{" ".join(seg)}"/>' for seg in segments if len(seg) > 1)
    last_day, last_value = known[-1]
    dots = f'<circle cx="{x(last_day)}" cy="{y(last_value)}" r="2.5"/>'
    aria = format_html("{}: {} points from {} to {}", label, len(known), start, end)
    return mark_safe(  # only numbers and escaped text above
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{aria}">{lines}{dots}</svg>'
    )


def multi_line(
    series: dict[str, Sequence[float | None]],
    *,
    labels: Sequence[str],
    width: int = 640,
    height: int = 180,
    percent: bool = True,
) -> SafeString:
    """Several series over the same x labels (months), with a legend; y from 0 to max."""
    colors = ["#4f46e5", "#b91c1c", "#15803d", "#b45309", "#0891b2"]
    values = [v for vals in series.values() for v in vals if v is not None]
    top = max([1.0, *values])
    left, bottom, pad = 40, 24, 8
    n = max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return round(left + (width - left - pad) * i / n, 1)

    def y(value: float) -> float:
        return round(height - bottom - (height - bottom - pad) * value / top, 1)

    parts = [
        f'<line class="axis" x1="{left}" y1="{y(0)}" x2="{width - pad}" y2="{y(0)}"/>',
        f'<text class="tick" x="{left - 4}" y="{y(top) + 4}" text-anchor="end">'
        f"{top * 100:.0f}%</text>"
        if percent
        else "",
        f'<text class="tick" x="{left - 4}" y="{y(0) + 4}" text-anchor="end">0</text>',
    ]
    for i, text in enumerate(labels):
        if i % max(1, len(labels) // 6) == 0 or i == len(labels) - 1:
            anchor = "end" if i == len(labels) - 1 else "middle"
            parts.append(
                format_html(
                    '<text class="tick" x="{}" y="{}" text-anchor="{}">{}</text>',
                    x(i),
                    height - 6,
                    anchor,
                    text,
                )
            )
    legend = []
    for index, (name, vals) in enumerate(series.items()):
        color = colors[index % len(colors)]
        points = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(vals) if v is not None)
        parts.append(f'<polyline points="{points}" stroke="{color}"/>')
        legend.append(format_html('<span style="color:{}">&#9632; {}</span>', color, name))
    svg = (
        f'<svg class="trend" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="Portfolio trend">{"".join(parts)}</svg>'
    )
    return mark_safe(  # numbers and escaped labels only
        f'<div class="trend-chart">{svg}<div class="legend">{" ".join(legend)}</div></div>'
    )
