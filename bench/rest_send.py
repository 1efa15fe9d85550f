#!/usr/bin/env python
"""REST send latency under a fixed load: `--rate` Locust users (PyPI), each sending about
one message a second (Poisson waits: `bench/locust_send.py`), for `--seconds`, against the
product as deployed (`scripts/serve.py`, 2 Daphne processes, throttles on).

    .venv/bin/pip install -e '.[bench]'   # Locust and py-spy: bench only
    .venv/bin/python bench/rest_send.py   # writes bench/results/rest_send_*.csv

First a warm-up run (`--warmup` seconds: every user opens its connection and the server's
connection pool fills), then the measured run. Percentiles are taken from every request
of the measured run after its first `--settle` seconds, when Locust's 100 users have just
opened 100 new connections at once; Locust's own table, which includes those seconds, is
printed too. Server CPU is the Daphne processes' user and system time over the measured
run. Reuses bench/ws_fanout.py's database (`messaging_wsbench`): users in rooms of 100.

`--target asgi|django|drf|handler` runs the same users against a floor instead of the product
(bench/rest_floor.py): the prescribed stack doing strictly less than a send, under the
same launcher and process count, so a figure can be read against what this machine
gives before any of our work.

    .venv/bin/python bench/rest_send.py --target asgi --seconds 40
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


def locust(args, port: int, seconds: int, env: dict, csv_prefix: Path | None = None) -> None:
    command = [
        str(Path(sys.executable).parent / "locust"),
        "-f", str(ROOT / "bench" / "locust_send.py"),
        "--headless", "--only-summary",
        "-u", str(args.rate), "-r", str(args.rate), "-t", f"{seconds}s",
        "--host", f"http://127.0.0.1:{port}",
    ]  # fmt: skip
    if csv_prefix is not None:
        command += ["--csv", str(csv_prefix)]
    subprocess.run(command, env=env, check=False)


def start_floor(level: str, processes: int) -> ws_fanout.Server:
    """bench/rest_floor.py's `level` on the product's launcher, as `ws_fanout.start_ours`."""
    from serve import start_web

    port = ws_fanout.free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLOOR_LEVEL": level, "PYTHONUNBUFFERED": "1"}
    log = open(ROOT / ".bench-floor.log", "w")  # noqa: SIM115 - the children write to it
    children = start_web("127.0.0.1", port, processes, env,
                         application="bench.rest_floor:application",
                         stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    ws_fanout.wait_for(port)
    time.sleep(1.0)
    return ws_fanout.Server(level, port, children)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--settle", type=int, default=5)
    parser.add_argument("--web-processes", type=int, default=2)
    targets = ["ours", "asgi", "django", "drf", "handler"]
    parser.add_argument("--target", choices=targets, default="ours")
    args = parser.parse_args()

    ws_fanout.prepare(10, 100)
    layout = ws_fanout.ours_layout(10, 100)
    accounts = [(room, keys[n]) for n in range(1, 101) for room, keys in layout][: args.rate]
    if args.target == "ours":
        server = ws_fanout.start_ours(args.web_processes, throttles=True)
        out = ROOT / "bench" / "results" / "rest_send"
    else:  # the summary line is the floor's record; Locust's CSVs stay the product's
        server = start_floor(args.target, args.web_processes)
        out = None
    with tempfile.TemporaryDirectory() as scratch:
        accounts_file = Path(scratch) / "accounts.json"
        samples_file = Path(scratch) / "samples.csv"
        accounts_file.write_text(json.dumps(accounts))
        env = {**os.environ, "BENCH_ACCOUNTS": str(accounts_file)}
        try:
            locust(args, server.port, args.warmup, env)
            cpu_before, wall_before = server.cpu_seconds(), time.perf_counter()
            locust(args, server.port, args.seconds, {**env, "BENCH_SAMPLES": str(samples_file)},
                   csv_prefix=out)  # fmt: skip
            cpu = (server.cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before)
        finally:
            server.stop()
        with open(samples_file) as file:
            samples = [(float(at), float(ms), ok == "True") for at, ms, ok in csv.reader(file)]
    start = min(s[0] for s in samples) + args.settle
    steady = sorted(ms for at, ms, _ in samples if at >= start)
    failures = sum(1 for _, _, ok in samples if not ok)
    seconds = max(s[0] for s in samples) - start
    print(
        f"\n{args.target}: {len(samples)} requests, {failures} failures; "
        f"after the first {args.settle} s: "
        f"{len(steady)} requests, {len(steady) / seconds:.1f}/s, p50 "
        f"{percentile(steady, 0.50):.1f} ms, p95 {percentile(steady, 0.95):.1f} ms, p99 "
        f"{percentile(steady, 0.99):.1f} ms, max {steady[-1]:.1f} ms; server CPU {cpu:.2f} "
        f"cores ({cpu / (len(samples) / args.seconds) * 1000:.1f} ms a request)"
    )


if __name__ == "__main__":
    main()
