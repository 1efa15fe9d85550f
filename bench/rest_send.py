#!/usr/bin/env python
"""REST send latency under a fixed load: `--rate` requests a second (default 100), one
per second from each of `--rate` users, for `--seconds`, measured by Locust (PyPI) against
the product as deployed (`scripts/serve.py`, 2 Daphne processes, throttles on).

    .venv/bin/pip install locust           # bench only, not a dependency of the product
    .venv/bin/python bench/rest_send.py    # writes bench/results/rest_send_stats.csv

Reuses bench/ws_fanout.py's database (`messaging_wsbench`): users in rooms of 100.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import ws_fanout  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--web-processes", type=int, default=2)
    args = parser.parse_args()

    ws_fanout.prepare(10, 100)
    layout = ws_fanout.ours_layout(10, 100)
    accounts = [(room, keys[n]) for n in range(1, 101) for room, keys in layout][: args.rate]
    server = ws_fanout.start_ours(args.web_processes, throttles=True)
    out = ROOT / "bench" / "results" / "rest_send"
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump(accounts, file)
        cpu_before, wall_before = server.cpu_seconds(), time.perf_counter()
        subprocess.run(
            [
                str(Path(sys.executable).parent / "locust"),
                "-f",
                str(ROOT / "bench" / "locust_send.py"),
                "--headless",
                "--only-summary",
                "-u",
                str(args.rate),
                "-r",
                str(args.rate),
                "-t",
                f"{args.seconds}s",
                "--host",
                f"http://127.0.0.1:{server.port}",
                "--csv",
                str(out),
            ],
            env={**os.environ, "BENCH_ACCOUNTS": file.name},
            check=False,
        )
        cpu = (server.cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before)
    finally:
        server.stop()
    with open(f"{out}_stats.csv") as stats:
        for row in csv.DictReader(stats):
            if row["Name"].startswith("POST"):
                print(
                    f"\n{row['Request Count']} requests, {row['Failure Count']} failures, "
                    f"{float(row['Requests/s']):.1f}/s; p50 {row['50%']} ms, p95 {row['95%']} "
                    f"ms, p99 {row['99%']} ms, max {float(row['Max Response Time']):.0f} ms; "
                    f"server CPU {cpu:.2f} cores"
                )


if __name__ == "__main__":
    main()
