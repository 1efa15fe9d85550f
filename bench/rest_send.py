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
gives before any of our work. `--target variant:NAME` runs the product with one of its
choices undone (bench/variants.py). `--against` measures a second target in the same
run, alternating with the first for `--rounds`, and reports the ratios per round: the
goal of docs/PERFORMANCE.md is read this way, against the stock DRF view.

    .venv/bin/python bench/rest_send.py --against drf --rounds 3
    .venv/bin/python bench/rest_send.py --against variant:stock-handler --rounds 3

`--target formatted` is the product sent texts with Markdown and two mentions of members
instead of plain ones of the same length (bench/locust_send.py); against `ours`, it gives
what formatting costs a real Daphne process a send:

    .venv/bin/python bench/rest_send.py --target formatted --against ours --rounds 3

`--against nosearch` is the product on a message table without the search vector's
trigger and index (dropped before its rounds, restored before the product's): what
keeping search costs a send.

    .venv/bin/python bench/rest_send.py --against nosearch --rounds 5
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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


def room_members(count: int) -> dict[int, list[str]]:
    """Per room, the usernames of its first `count` receivers (whom a formatted text
    mentions)."""
    import psycopg

    with psycopg.connect(ws_fanout.DB_URL) as conn:
        rows = conn.execute(
            "SELECT m.conversation_id, u.username FROM chat_membership m "
            "JOIN accounts_user u ON u.id = m.user_id ORDER BY m.conversation_id, m.user_id"
        ).fetchall()
    members: dict[int, list[str]] = {}
    for room, username in rows:
        members.setdefault(room, []).append(username)
    return {room: names[1 : count + 1] for room, names in members.items()}


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]


@dataclass
class Run:
    target: str
    requests: int
    failures: int
    rate: float
    p50: float
    p95: float
    p99: float
    max: float
    cpu_cores: float
    cpu_ms: float  # server CPU per request

    def line(self) -> str:
        return (
            f"{self.target}: {self.requests} requests, {self.failures} failures; steady "
            f"{self.rate:.1f}/s, p50 {self.p50:.1f} ms, p95 {self.p95:.1f} ms, p99 "
            f"{self.p99:.1f} ms, max {self.max:.1f} ms; server CPU {self.cpu_cores:.2f} "
            f"cores ({self.cpu_ms:.1f} ms a request)"
        )


def start(target: str, args) -> ws_fanout.Server:
    if target in ("ours", "formatted", "nosearch"):
        return ws_fanout.start_ours(args.web_processes, throttles=True)
    if target.startswith("variant:"):
        return ws_fanout.start_ours(
            args.web_processes, throttles=True, application="bench.variants:application",
            extra_env={"BENCH_VARIANT": target.split(":", 1)[1]},
        )  # fmt: skip
    return start_floor(target, args.web_processes)


# The search vector's trigger and index as migration 0010 makes them, and their absence:
# `--target nosearch` is the product on a table without them (issue 19's send goal).
SEARCH_ON = [
    "ALTER TABLE chat_message ENABLE TRIGGER chat_message_search_vector",
    "CREATE INDEX IF NOT EXISTS chat_message_search ON chat_message"
    " USING gin (conversation_id, search_vector) WITH (fastupdate = off)",
]
SEARCH_OFF = [
    "ALTER TABLE chat_message DISABLE TRIGGER chat_message_search_vector",
    "DROP INDEX IF EXISTS chat_message_search",
]


def forget_messages(*, search: bool = True) -> None:
    """Every run starts from the same rooms, empty: the messages earlier runs sent (tens of
    thousands an hour) would otherwise make each run slower than the one before."""
    import psycopg

    with psycopg.connect(ws_fanout.DB_URL, autocommit=True) as conn:
        conn.execute("TRUNCATE chat_message CASCADE")  # reactions, mentions, edits
        for statement in SEARCH_ON if search else SEARCH_OFF:
            conn.execute(statement)
        conn.execute("UPDATE chat_conversation SET last_seq = 0, last_message_at = NULL")
        conn.execute("UPDATE chat_membership SET read_seq = 0, delivered_seq = 0")
        conn.execute("VACUUM ANALYZE chat_conversation, chat_membership, chat_message")


def measure(target: str, args, accounts: list) -> Run:
    """One warm-up and one measured run of the Locust users against `target`."""
    forget_messages(search=target != "nosearch")
    server = start(target, args)
    # Locust's CSVs are the product's record; a floor or a variant leaves them alone.
    out = ROOT / "bench" / "results" / "rest_send" if target == "ours" else None
    with tempfile.TemporaryDirectory() as scratch:
        accounts_file = Path(scratch) / "accounts.json"
        samples_file = Path(scratch) / "samples.csv"
        accounts_file.write_text(json.dumps(accounts))
        env = {**os.environ, "BENCH_ACCOUNTS": str(accounts_file),
               "BENCH_TEXT": "formatted" if target == "formatted" else "plain"}  # fmt: skip
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
    start_at = min(s[0] for s in samples) + args.settle
    steady = sorted(ms for at, ms, _ in samples if at >= start_at)
    seconds = max(s[0] for s in samples) - start_at
    return Run(
        target=target,
        requests=len(samples),
        failures=sum(1 for _, _, ok in samples if not ok),
        rate=len(steady) / seconds,
        p50=percentile(steady, 0.50),
        p95=percentile(steady, 0.95),
        p99=percentile(steady, 0.99),
        max=steady[-1],
        cpu_cores=cpu,
        cpu_ms=cpu / (len(samples) / args.seconds) * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--settle", type=int, default=5)
    parser.add_argument("--web-processes", type=int, default=2)
    floors = ["asgi", "django", "drf", "handler"]
    variants = ["variant:stock-handler", "variant:orm-token"]
    parser.add_argument("--target", choices=["ours", "formatted", *floors, *variants],
                        default="ours")  # fmt: skip
    parser.add_argument("--against", choices=["ours", "nosearch", *floors, *variants],
                        help="also measure this in the same run, alternating, and report "
                             "--target's p99 and CPU per request as ratios of its")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1, help="alternations with --against")
    args = parser.parse_args()

    ws_fanout.prepare(10, 100)
    layout = ws_fanout.ours_layout(10, 100)
    names = room_members(2)
    accounts = [(room, keys[n], names[room]) for n in range(1, 101) for room, keys in layout]
    accounts = accounts[: args.rate]
    order = [args.against, args.target] if args.against else [args.target]
    runs: dict[str, list[Run]] = {target: [] for target in order}
    for round_number in range(1, args.rounds + 1):
        for target in order:
            run = measure(target, args, accounts)
            runs[target].append(run)
            print(f"\nround {round_number}/{args.rounds} {run.line()}", flush=True)
    if not args.against:
        return
    print()
    for target in order:
        print(
            f"{target}: median p99 {statistics.median(r.p99 for r in runs[target]):.1f} ms, "
            f"median CPU {statistics.median(r.cpu_ms for r in runs[target]):.1f} ms a request"
        )
    pairs = list(zip(runs[args.against], runs[args.target], strict=True))
    p99 = [ours.p99 / base.p99 for base, ours in pairs]
    cpu = [ours.cpu_ms / base.cpu_ms for base, ours in pairs]
    print(
        f"{args.target} / {args.against}, per round: p99 "
        f"{', '.join(f'{r:.2f}' for r in p99)} (median {statistics.median(p99):.2f}); "
        f"CPU a request {', '.join(f'{r:.2f}' for r in cpu)} "
        f"(median {statistics.median(cpu):.2f})"
    )


if __name__ == "__main__":
    main()
