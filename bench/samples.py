"""Summary figures of timed requests; no Django, so growth.py's coordinator can use it too."""

from __future__ import annotations

import statistics

Sample = tuple[float, int, float]  # (wall ms, SQL statements, SQL ms) of one request


def summarise(samples: list[Sample]) -> dict:
    times = sorted(sample[0] for sample in samples)
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
        "queries": max(sample[1] for sample in samples),
        "sql_median_ms": round(statistics.median(sample[2] for sample in samples), 1),
    }
