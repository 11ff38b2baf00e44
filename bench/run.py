"""Measure the inbox pages on a generated database: server time and query count.

    DATABASE_URL=postgres://.../tandem_bench python bench/run.py [--repeat 15] [--json out]

Each case is requested through Django's test client in-process (no network), after one warm-up
request; reported: median and p95 wall time of the whole request (middleware, queries,
template), the number of SQL queries and the median time spent in SQL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from helpdesk.models import User  # noqa: E402
from inbox.models import Ticket  # noqa: E402


def measure(client: Client, url: str, repeat: int) -> dict:
    response = client.get(url)  # warm-up (connection, caches, plans)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    times, sql_times, counts = [], [], []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        counts.append(len(queries))
        sql_times.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
    times.sort()
    return {
        "url": url,
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
        "queries": max(counts),
        "sql_median_ms": round(statistics.median(sql_times), 1),
    }


def next_cursor_url(client: Client, url: str) -> str:
    html = client.get(url).content.decode()
    marker = 'href="?'
    end = html.index('" rel="next"')
    start = html.rindex(marker, 0, end) + len(marker)
    return "/inbox/?" + html[start:end].replace("&amp;", "&")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    setup_test_environment()
    connection.settings_dict["CONN_MAX_AGE"] = None  # one connection, as in a web worker

    total = Ticket.objects.count()
    agent = User.objects.get(username="team0-agent0")
    admin = User.objects.get(username="bench-admin")
    # A ticket with an average thread, in the agent's team.
    ticket = (
        Ticket.objects.filter(team__memberships__user=agent, status="open").order_by("id").first()
    )
    agent_client, admin_client = Client(), Client()
    agent_client.force_login(agent)
    admin_client.force_login(admin)

    cases = [
        ("list: agent, my teams (incl. nav counts)", agent_client, "/inbox/?view=team"),
        ("list: agent, unassigned", agent_client, "/inbox/?view=unassigned"),
        ("list: admin, all open", admin_client, "/inbox/?view=all"),
        ("list: admin, all open, sort SLA due", admin_client, "/inbox/?view=all&sort=sla"),
        (
            "list: admin, solved, filter priority+tag",
            admin_client,
            "/inbox/?view=solved&priority=high&tag=refund",
        ),
        ("search: agent, 'password export'", agent_client, "/inbox/?view=all&q=password+export"),
        ("search: admin, 'webhook'", admin_client, "/inbox/?view=all&q=webhook"),
        (
            "search: admin, requester e-mail",
            admin_client,
            "/inbox/?view=all&q=person17%40acct0.example",
        ),
        ("ticket page: agent", agent_client, f"/tickets/{ticket.number}/"),
    ]
    second = next_cursor_url(admin_client, "/inbox/?view=all")
    cases.insert(3, ("list: admin, all open, page 2 (keyset)", admin_client, second))

    results = []
    print(f"{total:,} tickets; {args.repeat} runs per case\n")
    print(f"| {'case':<44} | median ms | p95 ms | queries | SQL ms |")
    print(f"|{'-' * 46}|-----------|--------|---------|--------|")
    for name, client, url in cases:
        result = {"case": name, **measure(client, url, args.repeat)}
        results.append(result)
        print(
            f"| {name:<44} | {result['median_ms']:>9} | {result['p95_ms']:>6} |"
            f" {result['queries']:>7} | {result['sql_median_ms']:>6} |",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"tickets": total, "results": results}, indent=2))


if __name__ == "__main__":
    main()
