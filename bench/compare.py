"""Print two bench/run.py JSON results side by side (markdown), with the growth factor.

python bench/compare.py bench/results/10k.json bench/results/1m.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    small, large = (json.loads(Path(p).read_text()) for p in sys.argv[1:3])
    by_case = {r["case"]: r for r in small["results"]}
    print(
        f"| case | {small['tickets']:,}: median ms | p95 | queries |"
        f" {large['tickets']:,}: median ms | p95 | queries | growth |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in large["results"]:
        base = by_case.get(row["case"], {})
        growth = ""
        if base.get("median_ms") and row.get("median_ms"):
            growth = f"{row['median_ms'] / base['median_ms']:.2f}x"
        print(
            f"| {row['case']} | {base.get('median_ms', '')} | {base.get('p95_ms', '')} |"
            f" {base.get('queries', '')} | {row.get('median_ms', '')} | {row.get('p95_ms', '')} |"
            f" {row.get('queries', '')} | {growth} |"
        )


if __name__ == "__main__":
    main()
