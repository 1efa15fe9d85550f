#!/usr/bin/env python
"""`make reliability`: fault scenarios against real processes, measured where it counts.

    .venv/bin/python scripts/reliability.py                        # every scenario
    .venv/bin/python scripts/reliability.py --scenario worker-kill  # one of them
    .venv/bin/python scripts/reliability.py --scenario redis-outage-sockets --runs 3

A run of every scenario writes its table into docs/RELIABILITY.md and its raw output to
bench/results/reliability_<date>.txt; a partial run (`--scenario`) only prints, unless
`--write`.

Starts, on free ports of its own and under a temporary directory: a redis-server (no
persistence, so a restart comes back empty), a PostgreSQL cluster (initdb as the
`postgres` OS user), the migrations, and per scenario Daphne (`python -m
messaging_site.server` through scripts/serve.py), Celery send workers (prefork,
concurrency 2), the control worker and beat, as scripts/run.py starts them, plus a
recording SMS gateway speaking the HttpBackend protocol in a process of its own. Each
scenario injects its fault (scripts/reliability_lib/), and the run prints one table,
writes it into docs/RELIABILITY.md between its markers, and saves the raw output to
bench/results/reliability_<date>.txt. Everything started is stopped at the end, on an
error and on Ctrl-C or SIGTERM.

Goals missed are findings (the table says FAIL); the exit status is non-zero only when
the harness itself failed (a scenario could not be run).
"""

import argparse
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from reliability_lib import app, live, report, sms
from reliability_lib.context import Context, Row
from reliability_lib.gateway import Gateway
from reliability_lib.procs import PYTHON, ROOT, Postgres, Reaper, Redis

SCENARIOS = {
    "rate-2w": lambda ctx, run: [sms.rate(ctx, 2)],
    "rate-4w": lambda ctx, run: [sms.rate(ctx, 4)],
    "redis-restart": lambda ctx, run: [sms.redis_restart(ctx)],
    "worker-kill": lambda ctx, run: [sms.worker_kill(ctx)],
    "retry": lambda ctx, run: [sms.retry(ctx)],
    "redis-outage-sockets": lambda ctx, runs: [
        live.redis_outage_sockets(ctx, "pause", runs),
        live.redis_outage_sockets(ctx, "restart", runs),
    ],
    "progress": lambda ctx, run: [live.progress(ctx)],
    "postgres-restart": lambda ctx, run: [live.postgres_restart(ctx)],
}
# Scenarios whose function takes the run count itself; the others are repeated.
TAKES_RUNS = {"redis-outage-sockets": 10}


def say(message: str) -> None:
    print(f"[reliability {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS))
    parser.add_argument("--runs", type=int, help="repeats (redis-outage-sockets: 10 each)")
    parser.add_argument("--drain-timeout", type=float, default=150.0, metavar="SECONDS")
    parser.add_argument("--throttles", choices=["on", "off"], default="on")
    parser.add_argument(
        "--cpu-hogs", type=int, default=2, metavar="N", help="busy loops beside rate-2w/4w"
    )
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        help="write docs/RELIABILITY.md and bench/results/reliability_<date>.txt "
        "(default: only when every scenario ran, so a partial run never replaces them)",
    )
    return parser.parse_args(argv)


def start_servers(base: Path, reaper: Reaper, args) -> Context:
    logs = base / "logs"
    logs.mkdir()
    redis = Redis(logs, reaper)
    redis.start()
    say(f"redis-server on {redis.port}")
    gateway = Gateway(reaper)
    say(f"gateway on {gateway.port}")
    postgres = Postgres(base, logs, reaper)
    postgres.init()
    say(f"PostgreSQL ({postgres.bin.parent.name}) on {postgres.port}")
    ctx = Context(
        base,
        logs,
        reaper,
        redis,
        postgres,
        gateway,
        args.drain_timeout,
        args.throttles,
        args.cpu_hogs,
    )
    manage = [PYTHON, str(ROOT / "manage.py"), "migrate", "--no-input", "-v", "0"]
    subprocess.run(manage, cwd=ROOT, env=ctx.worker_env(), check=True)
    app.configure(ctx.worker_env())
    say("migrated")
    return ctx


def restore(ctx: Context) -> None:
    """After a scenario that stopped half-way: Redis and PostgreSQL up again."""
    if ctx.redis.process is not None:
        ctx.redis.process.send_signal(signal.SIGCONT)
    if not ctx.redis.ping():
        ctx.redis.kill()
        ctx.redis.start()
    if ctx.postgres.ready_time() is None:
        ctx.postgres.start()


def run_scenarios(ctx: Context, names: list[str], runs: int | None) -> tuple[list[Row], bool]:
    rows, ok = [], True
    for name in names:
        repeats = 1 if name in TAKES_RUNS else (runs or 1)
        for n in range(repeats):
            say(f"{name} ({n + 1}/{repeats}) ...")
            try:
                produced = SCENARIOS[name](ctx, runs or TAKES_RUNS.get(name, 1))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as error:
                traceback.print_exc()
                produced = [Row(name, "-", verdict="ERROR", failures=[repr(error)[:300]])]
                ok = False
                restore(ctx)
            for row in produced:
                say(f"{row.scenario}: {row.verdict} {row.figures} {'; '.join(row.failures)}")
            rows.extend(produced)
    return rows, ok


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    names = args.scenario or list(SCENARIOS)
    tee = report.Tee(sys.stdout)
    sys.stdout = tee

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # Even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    reaper = Reaper()
    base = Path(tempfile.mkdtemp(prefix="reliability-"))
    try:
        ctx = start_servers(base, reaper, args)
        rows, ok = run_scenarios(ctx, names, args.runs)
    except KeyboardInterrupt:
        say("interrupted; stopping everything")
        return 130
    except Exception:
        traceback.print_exc()
        say("harness error; stopping everything")
        return 1
    finally:
        reaper.stop_all()
        say(f"stopped; logs in {base / 'logs'}")
    command = "scripts/reliability.py " + shlex.join(argv) if argv else "make reliability"
    print()
    print(report.markdown_table(rows))
    for note in ctx.notes:
        print(note)
    write = args.write if args.write is not None else args.scenario is None
    if write:
        say(f"table written to {report.write_doc(rows, command)}")
    sys.stdout = tee.stream
    if write:
        print(f"raw output in {report.write_raw(tee.text())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
