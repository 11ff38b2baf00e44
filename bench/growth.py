"""Growth from a small to a large database, measured interleaved so both see the same machine.

    python bench/growth.py --small postgres://.../bench10k --large postgres://.../bench1m \
        [--rounds 15] [--json out.json]

`run.py` measures one database, then the other, minutes apart; this 2-core machine's speed
moves by 1.5-2x between runs an hour apart (PostgreSQL and memory side), so the ratio of
two such medians carries that drift twice. Here two worker processes, one per database,
each exactly like `run.py`'s (one connection, its own cache key prefix), take the same page
case in turn: round r asks the small one then the large one (the other way round on odd
rounds), case after case. Each median then comes from the same minutes as its partner's,
and the growth column is the ratio of those medians. Only one worker runs at a time. A warm
case gets an untimed request just before its timed one (the user's previous page), so it is
warm as in `run.py` although other cases, cold-nav ones among them, ran in between.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.samples import Sample, summarise  # noqa: E402

PROTOCOL = "@@ "  # marks the worker's answers among whatever else it prints


class Worker:
    """A `growth.py --worker` process on one database, driven over its stdin and stdout."""

    def __init__(self, database_url: str, label: str, redis_db: int) -> None:
        env = dict(
            os.environ,
            DATABASE_URL=database_url,
            CACHE_KEY_PREFIX=f"bench-{label}",
            PYTHONWARNINGS="ignore:No directory at",  # no collected static files here
        )
        redis_url = os.environ.get("REDIS_URL", "")
        if redis_url:
            # Its own Redis database too: Celery tasks a page sends stay apart.
            env["REDIS_URL"] = redis_url.rsplit("/", 1)[0] + f"/{redis_db}"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        # Both pipes exist: Popen was given PIPE for them.
        self.stdin = cast(IO[str], self.process.stdin)
        self.stdout = cast(IO[str], self.process.stdout)
        self.hello = self._read()

    def _read(self) -> dict:
        for line in self.stdout:
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL) :])
        raise SystemExit(f"worker exited with {self.process.wait()}")

    def ask(self, op: str, case: int) -> dict:
        self.stdin.write(json.dumps({"op": op, "case": case}) + "\n")
        self.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.stdin.close()
        self.process.wait()


def serve() -> None:
    """Worker side: build run.py's page cases on this database, answer one request at a time."""
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "0")
    from bench import run  # sets Django up on DATABASE_URL

    run.setup_test_environment()
    run.connection.settings_dict["CONN_MAX_AGE"] = None  # one connection, as in a web worker
    cases = run.build_page_cases()
    tickets = run.Ticket.objects.count()

    def answer(document: dict) -> None:
        print(PROTOCOL + json.dumps(document), flush=True)

    rows = [run.rows_listed(case.client, case.url) for case in cases]
    answer({"tickets": tickets, "cases": [[case.name, case.url] for case in cases], "rows": rows})
    for line in sys.stdin:
        request = json.loads(line)
        case = cases[request["case"]]
        if request["op"] == "warm":
            run.measure_once(case.client, case.url)
            answer({})
        else:
            if case.before is None:
                # A warm case is a page whose user saw nothing change since their last one,
                # as in run.py's back-to-back repeats; here other cases ran in between, and
                # a cold-nav case retired everyone's counts.
                run.measure_once(case.client, case.url)
            answer({"sample": run.measure_once(case.client, case.url, case.before)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", help="database URL of the small scale (10 k)")
    parser.add_argument("--large", help="database URL of the large scale (1 M)")
    parser.add_argument("--rounds", type=int, default=15, help="timed requests per case and scale")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        serve()
        return
    if not (args.small and args.large):
        parser.error("--small and --large are required")
    small = Worker(args.small, "small", redis_db=1)
    large = Worker(args.large, "large", redis_db=2)
    names = [name for name, _url in small.hello["cases"]]
    if names != [name for name, _url in large.hello["cases"]]:
        raise SystemExit("the two databases gave different case lists")
    for index in range(len(names)):  # warm-up: connection, caches, prepared plans
        small.ask("warm", index)
        large.ask("warm", index)
    samples: dict[str, list[list[Sample]]] = {name: [[], []] for name in names}
    for round_number in range(args.rounds):
        pair = (small, large) if round_number % 2 == 0 else (large, small)
        for index, name in enumerate(names):
            for worker in pair:
                samples[name][worker is large].append(tuple(worker.ask("measure", index)["sample"]))
    small.close()
    large.close()

    rows = []
    for index, name in enumerate(names):
        at_small, at_large = (summarise(s) for s in samples[name])
        rows.append(
            {
                "case": name,
                "small": {**at_small, "rows": small.hello["rows"][index]},
                "large": {**at_large, "rows": large.hello["rows"][index]},
                "growth": round(at_large["median_ms"] / at_small["median_ms"], 2),
            }
        )
    small_n, large_n = small.hello["tickets"], large.hello["tickets"]
    print(f"{args.rounds} interleaved rounds; {small_n:,} and {large_n:,} tickets\n")
    print(
        f"| case | {small_n:,}: median ms | p95 | queries | SQL ms |"
        f" {large_n:,}: median ms | p95 | queries | SQL ms | growth | rows listed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        a, b = row["small"], row["large"]
        listed = "" if a["rows"] is None else f"{a['rows']} / {b['rows']}"
        print(
            f"| {row['case']} | {a['median_ms']} | {a['p95_ms']} | {a['queries']} |"
            f" {a['sql_median_ms']} | {b['median_ms']} | {b['p95_ms']} | {b['queries']} |"
            f" {b['sql_median_ms']} | {row['growth']:.2f}x | {listed} |",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"rounds": args.rounds, "tickets": [small_n, large_n], "results": rows}
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
